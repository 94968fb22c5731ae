#include "exporter/rate_limiter.h"

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

}  // namespace
}  // namespace aee
