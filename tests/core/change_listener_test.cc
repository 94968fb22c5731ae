#include "core/change_listener.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "tests/support/fake_clock.h"
#include "tests/support/snapshot.h"

namespace aee {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Nothing listens on port 1: every connection attempt is refused at once, so the
// listener lives in its reconnect loop, timed by the fake clock.
TEST(ChangeListenerTest, ReconnectsWithABackoffThatDoublesToItsCapAndStopsAtOnce) {
  FakeSteadyClock clock;
  Logger logger(LogLevel::kInfo, LogFormat::kLogfmt);
  std::string log;
  logger.SetSinkForTest(&log);
  std::mutex mu;
  std::condition_variable cv;
  int downs = 0;
  auto wait_for_downs = [&](int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, seconds(10), [&] { return downs >= n; });
  };
  ChangeListener listener("postgresql://postgres:hunter2@127.0.0.1:1/x", "aee_changes", [](std::string_view) {},
                          logger, clock);
  listener.SetOnDown([&] {
    std::lock_guard lock(mu);
    ++downs;
    cv.notify_all();
  });
  listener.Start();
  ASSERT_TRUE(wait_for_downs(1));
  int attempts = 1;
  for (int wait : {1, 2, 4, 8, 16, 30, 30}) {
    ASSERT_TRUE(clock.WaitForDeadlineIn(seconds(wait))) << "after attempt " << attempts;
    ASSERT_TRUE(clock.AdvanceAndAwaitWaits(seconds(wait) - milliseconds(1)));
    {
      std::lock_guard lock(mu);
      EXPECT_EQ(downs, attempts) << "attempt " << attempts + 1 << " came before its wait of " << wait << " s";
    }
    clock.Advance(milliseconds(1));
    ASSERT_TRUE(wait_for_downs(++attempts));
  }
  ASSERT_TRUE(clock.WaitForDeadlineIn(seconds(30)));
  listener.Stop();  // ends the 30 s wait without time moving
  EXPECT_EQ(testing::Value(listener.Gather(), "agent_exporter_notify_listener_up", {}), 0);
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;
  size_t warnings = 0;
  for (size_t pos = 0; (pos = log.find("notify listener down", pos)) != std::string::npos; ++pos) ++warnings;
  EXPECT_EQ(warnings, 1u) << log;  // logged once, not per attempt
}

}  // namespace
}  // namespace aee
