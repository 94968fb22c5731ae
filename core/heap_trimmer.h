#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "core/clock.h"

namespace aee {

/// Gives the kernel back the heap memory glibc's malloc keeps after it was freed.
///
/// glibc returns freed memory to the kernel only from the top of a heap, so the
/// blocks freed after a large cycle (the start-up read of the lateness window, a
/// sweep, a ledger rebuilt at another size, a large result) stay resident behind
/// any block still in use: under a steady load that was a third of the exporter's
/// resident memory (docs/benchmarks.md, "Memory under a steady load").
/// malloc_trim() releases the free pages wherever they are. The scheduler asks
/// after every cycle; a trim happens at most once per min_gap and only when the
/// heap holds at least min_free_bytes free, so its cost (a walk of the free lists
/// and one madvise per free run of pages) stays off the common path.
class HeapTrimmer {
 public:
  /// clock measures min_gap.
  HeapTrimmer(std::chrono::milliseconds min_gap, std::size_t min_free_bytes,
              const SteadyClock& clock = RealSteadyClock::Instance())
      : min_gap_(min_gap), min_free_bytes_(min_free_bytes), clock_(clock) {}

  /// Trims if due; true when it did. Safe from any thread; one trims at a time.
  bool MaybeTrim();
  /// Bytes malloc holds free in its heaps (not counting blocks served by mmap).
  static std::size_t FreeHeapBytes();
  std::uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  const std::chrono::milliseconds min_gap_;
  const std::size_t min_free_bytes_;
  const SteadyClock& clock_;
  // Nanoseconds on clock_ from which the next check may run; the first call checks.
  std::atomic<std::int64_t> next_check_ns_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> trims_{0};
};

}  // namespace aee
