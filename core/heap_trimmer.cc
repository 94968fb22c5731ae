#include "core/heap_trimmer.h"

#include <malloc.h>

namespace aee {

std::size_t HeapTrimmer::FreeHeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.fordblks;
}

bool HeapTrimmer::MaybeTrim() {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.Now().time_since_epoch())
          .count();
  std::int64_t due = next_check_ns_.load(std::memory_order_relaxed);
  if (now < due) return false;
  // Claim this check: a thread that loses the race leaves it to the winner.
  const std::int64_t next = now + std::chrono::duration_cast<std::chrono::nanoseconds>(min_gap_).count();
  if (!next_check_ns_.compare_exchange_strong(due, next, std::memory_order_relaxed)) return false;
  if (FreeHeapBytes() < min_free_bytes_) return false;
  malloc_trim(0);
  trims_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

}  // namespace aee
