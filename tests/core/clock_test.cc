#include "core/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "tests/support/fake_clock.h"

namespace aee {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(FakeSteadyClockTest, ASleepEndsWhenTheClockReachesItsDeadlineAndNotBefore) {
  FakeSteadyClock clock;
  const auto start = clock.Now();
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.SleepFor(seconds(5));
    woke = true;
  });
  ASSERT_TRUE(clock.WaitForDeadlineIn(seconds(5)));
  ASSERT_TRUE(clock.AdvanceAndAwaitWaits(seconds(5) - nanoseconds(1)));  // woken, and asleep again
  EXPECT_FALSE(woke);
  clock.Advance(nanoseconds(1));
  sleeper.join();
  EXPECT_TRUE(woke);
  EXPECT_EQ(clock.Now() - start, seconds(5));
}

// The predicate form returns at once when the deadline has passed, and with the
// predicate's value when notified.
TEST(FakeSteadyClockTest, APredicateWaitEndsOnItsConditionOrItsDeadline) {
  FakeSteadyClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::unique_lock lock(mu);
  EXPECT_FALSE(clock.WaitUntil(cv, lock, clock.Now(), [&] { return done; }));
  std::thread setter([&] {
    EXPECT_TRUE(clock.WaitForDeadlineIn(seconds(1)));  // the main thread waits
    std::lock_guard set_lock(mu);
    done = true;
    cv.notify_all();
  });
  EXPECT_TRUE(clock.WaitUntil(cv, lock, clock.Now() + seconds(1), [&] { return done; }));
  lock.unlock();
  setter.join();
}

TEST(RealSteadyClockTest, AWaitWithoutNotificationEndsAtItsDeadline) {
  const SteadyClock& clock = RealSteadyClock::Instance();
  std::mutex mu;
  std::condition_variable cv;
  std::unique_lock lock(mu);
  const auto deadline = clock.Now() + milliseconds(20);
  EXPECT_FALSE(clock.WaitUntil(cv, lock, deadline, [] { return false; }));
  EXPECT_GE(clock.Now(), deadline);
}

}  // namespace
}  // namespace aee
