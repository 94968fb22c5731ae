#include "core/heap_trimmer.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <vector>

#include "tests/support/fake_clock.h"

namespace aee {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

[[maybe_unused]] std::size_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

TEST(HeapTrimmerTest, TrimsAtMostOncePerGap) {
  HeapTrimmer trimmer(hours(1), 0);
  EXPECT_TRUE(trimmer.MaybeTrim());
  EXPECT_FALSE(trimmer.MaybeTrim());
  EXPECT_EQ(trimmer.trims(), 1u);
}

TEST(HeapTrimmerTest, ChecksAgainOnceItsGapHasPassedOnItsClock) {
  FakeSteadyClock clock;
  HeapTrimmer trimmer(seconds(5), 0, clock);
  EXPECT_TRUE(trimmer.MaybeTrim());
  clock.Advance(seconds(5) - nanoseconds(1));
  EXPECT_FALSE(trimmer.MaybeTrim());
  clock.Advance(nanoseconds(1));
  EXPECT_TRUE(trimmer.MaybeTrim());
  EXPECT_FALSE(trimmer.MaybeTrim());
  EXPECT_EQ(trimmer.trims(), 2u);
}

TEST(HeapTrimmerTest, LeavesAHeapWithLittleFreeAlone) {
  HeapTrimmer trimmer(milliseconds(0), std::numeric_limits<std::size_t>::max());
  EXPECT_FALSE(trimmer.MaybeTrim());
  EXPECT_EQ(trimmer.trims(), 0u);
}

TEST(HeapTrimmerTest, GivesFreedPagesBehindALiveBlockBack) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer has its own allocator; malloc_trim acts on glibc's";
#else
  // 64 MiB in 4 KiB blocks (served from the heap, not mmap), then one block
  // allocated after them that stays: freeing the rest leaves a hole glibc does not
  // give back by itself, as after a cycle that read many rows.
  constexpr std::size_t kBlock = 4096, kBlocks = 16384;
  std::vector<char*> blocks;
  blocks.reserve(kBlocks);
  for (std::size_t i = 0; i < kBlocks; ++i) {
    blocks.push_back(static_cast<char*>(std::malloc(kBlock)));
    ASSERT_NE(blocks.back(), nullptr);
    std::memset(blocks.back(), 1, kBlock);
  }
  char* pin = static_cast<char*>(std::malloc(kBlock));
  std::memset(pin, 2, kBlock);
  for (char* b : blocks) std::free(b);
  const std::size_t before = ResidentBytes();
  EXPECT_GE(HeapTrimmer::FreeHeapBytes(), 60u << 20);

  HeapTrimmer trimmer(milliseconds(0), 1u << 20);
  EXPECT_TRUE(trimmer.MaybeTrim());
  const std::size_t after = ResidentBytes();
  EXPECT_LE(after + (48u << 20), before) << "resident " << (before >> 20) << " MiB before, " << (after >> 20)
                                         << " MiB after the trim";
  EXPECT_EQ(pin[kBlock - 1], 2);
  std::free(pin);
#endif
}

}  // namespace
}  // namespace aee
