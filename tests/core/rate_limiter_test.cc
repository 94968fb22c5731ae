#include "core/rate_limiter.h"
#include "tests/support/fake_clock.h"

#include <gtest/gtest.h>

namespace aee {
namespace {

TEST(RateLimiterTest, TokenBucketPerClient) {
  FakeClock clock(Clock::time_point{} + std::chrono::hours(1000));
  RateLimiter limiter(2, 3, clock);
  int retry = 0;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", &retry)) << i;
  EXPECT_FALSE(limiter.Allow("a", &retry));
  EXPECT_EQ(retry, 1);
  EXPECT_TRUE(limiter.Allow("b", &retry));  // another client has its own bucket
  clock.Advance(std::chrono::milliseconds(500));
  EXPECT_TRUE(limiter.Allow("a", &retry));  // one token per 1/rate seconds
  EXPECT_FALSE(limiter.Allow("a", &retry));
  clock.Advance(std::chrono::hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", &retry));  // refills to burst only
  EXPECT_FALSE(limiter.Allow("a", &retry));
}

TEST(RateLimiterTest, SlowRatesGiveLongRetryAfterAndClockStepsBackRefillNothing) {
  FakeClock clock(Clock::time_point{} + std::chrono::hours(1000));
  RateLimiter limiter(0.1, 1, clock);
  int retry = 0;
  EXPECT_TRUE(limiter.Allow("a", &retry));
  EXPECT_FALSE(limiter.Allow("a", &retry));
  EXPECT_EQ(retry, 10);
  clock.Advance(-std::chrono::hours(5));
  EXPECT_FALSE(limiter.Allow("a", &retry));
  // A rate too small for an int of seconds is clamped to a day, not overflowed.
  RateLimiter glacial(1e-10, 1, clock);
  EXPECT_TRUE(glacial.Allow("a", &retry));
  EXPECT_FALSE(glacial.Allow("a", &retry));
  EXPECT_EQ(retry, 86400);
}

TEST(RateLimiterTest, DisabledAndBoundedMemory) {
  FakeClock clock(Clock::time_point{});
  int retry = 0;
  RateLimiter off(0, 1, clock);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(off.Allow("a", &retry));
  RateLimiter small(1, 1, clock, /*max_clients=*/4);
  for (int i = 0; i < 1000; ++i) small.Allow("client" + std::to_string(i), &retry);  // no unbounded growth
  EXPECT_TRUE(small.Allow("fresh", &retry));
}

// Issue #17: when the table was full, the limiter erased buckets_.begin() of an
// unordered_map: an arbitrary client (with libstdc++ often the newest), so a client
// being throttled could lose its empty bucket and start over with a full one. Now the
// least recently seen client goes.
TEST(RateLimiterTest, WhenFullEvictsTheLeastRecentlySeenClientNotAThrottledOne) {
  FakeClock clock(Clock::time_point{} + std::chrono::hours(1000));
  RateLimiter limiter(1, 1, clock, /*max_clients=*/3);  // no time passes: nothing refills
  int retry = 0;
  EXPECT_TRUE(limiter.Allow("idle-1", &retry));
  EXPECT_TRUE(limiter.Allow("idle-2", &retry));
  EXPECT_TRUE(limiter.Allow("flooder", &retry));
  EXPECT_FALSE(limiter.Allow("flooder", &retry));  // throttled, and the most recently seen
  EXPECT_TRUE(limiter.Allow("newcomer", &retry));  // full: one client must go
  EXPECT_FALSE(limiter.Allow("flooder", &retry)) << "the throttled client got a fresh bucket";
  EXPECT_FALSE(limiter.Allow("newcomer", &retry));
  EXPECT_FALSE(limiter.Allow("idle-2", &retry)) << "idle-2 was evicted before idle-1";
  // idle-1 was evicted, so it starts over with a full bucket. That evicts flooder,
  // now the least recently seen: a throttled client loses its bucket only once
  // max_clients other clients have been seen since its last request.
  EXPECT_TRUE(limiter.Allow("idle-1", &retry));
  // Seeing a client again moves it to the front: newcomer, seen just now, survives
  // the next two arrivals while idle-2 and idle-1 go.
  EXPECT_FALSE(limiter.Allow("newcomer", &retry));
  EXPECT_TRUE(limiter.Allow("another", &retry));
  EXPECT_TRUE(limiter.Allow("and-another", &retry));
  EXPECT_FALSE(limiter.Allow("newcomer", &retry));
  EXPECT_TRUE(limiter.Allow("idle-2", &retry));
}

}  // namespace
}  // namespace aee
