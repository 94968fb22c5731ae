#include "core/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "tests/support/fake_clock.h"
#include "tests/support/snapshot.h"

namespace aee {
namespace {

using prometheus::MetricType;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr FamilySpec kValue{"stub_value", MetricType::Gauge, "h", {}};

// Scripted collector: each Collect() pops the next outcome (value or failure).
class StubCollector final : public Collector {
 public:
  explicit StubCollector(std::vector<double> outcomes) : outcomes_(std::move(outcomes)) {}
  Snapshot Collect(DbSession&) override {
    double v = outcomes_.at(next_++);
    if (v == -2) throw CollectorUnavailable("table \"public\".workers does not exist");
    if (v == -3) throw std::runtime_error("invalid percent-encoded token: \"S3cr%zzetPW\"");
    if (v < 0) throw std::runtime_error("connection to postgresql://u:hunter2@db failed");
    FamilyBuilder b(kValue);
    b.Add({}, v);
    Snapshot s;
    s.push_back(b.Take());
    return s;
  }

 private:
  std::vector<double> outcomes_;
  size_t next_ = 0;
};

class SchedulerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Scheduler> Make(std::vector<double> outcomes) {
    std::vector<ScheduledCollector> v;
    ScheduledCollector c;
    c.name = "stub";
    c.schedule.interval = seconds(1);
    c.collector = std::make_unique<StubCollector>(std::move(outcomes));
    c.db = std::make_unique<DbSession>("postgresql://nowhere.invalid/x", "test");
    v.push_back(std::move(c));
    logger_.SetSinkForTest(&log_);
    return std::make_unique<Scheduler>(std::move(v), clock_, logger_);
  }
  FakeClock clock_{FakeClock::time_point(seconds(1'000'000))};
  Logger logger_{LogLevel::kInfo, LogFormat::kLogfmt};
  std::string log_;
};

// Without kept snapshots (no workspace tokens) a cycle publishes its rendered text
// only, and a failing collector keeps its last rendered text as it kept the snapshot.
TEST_F(SchedulerTest, WithoutKeptSnapshotsPublishesTheRenderedTextAlone) {
  auto s = Make({7, -1});
  s->KeepSnapshots(false);
  EXPECT_TRUE(s->RunOnce(0));
  EXPECT_FALSE(s->RunOnce(0));
  EXPECT_EQ(testing::SeriesCount(s->Gather(), "stub_value"), 0u);
  EXPECT_EQ(testing::Value(s->Gather(), "agent_exporter_collector_up", {{"collector", "stub"}}), 0);
  const BodyPieces body = JoinRendered(s->Rendered());
  EXPECT_NE(body.Join().find("stub_value 7\n"), std::string::npos) << body.Join();
}

TEST_F(SchedulerTest, KeepsLastSnapshotWhileFailing) {
  auto s = Make({7, -1, -1, 9});
  EXPECT_TRUE(s->RunOnce(0));
  EXPECT_FALSE(s->RunOnce(0));
  auto g = s->Gather();
  EXPECT_EQ(testing::Value(g, "stub_value", {}), 7);  // last good value kept
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_up", {{"collector", "stub"}}), 0);
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_errors_total", {{"collector", "stub"}}), 1);
  EXPECT_FALSE(s->RunOnce(0));
  EXPECT_TRUE(s->RunOnce(0));
  g = s->Gather();
  EXPECT_EQ(testing::Value(g, "stub_value", {}), 9);
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_up", {{"collector", "stub"}}), 1);
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_errors_total", {{"collector", "stub"}}), 2);
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_last_success_timestamp_seconds", {{"collector", "stub"}}),
            1'000'000);
}

TEST_F(SchedulerTest, LogsOncePerStateChangeAndRedacts) {
  auto s = Make({1, -1, -1, -1, 2});
  for (int i = 0; i < 5; ++i) s->RunOnce(0);
  auto count = [&](const std::string& needle) {
    size_t n = 0, pos = 0;
    while ((pos = log_.find(needle, pos)) != std::string::npos) ++n, ++pos;
    return n;
  };
  EXPECT_EQ(count("\"collector failed\""), 1u) << log_;
  EXPECT_EQ(count("\"collector recovered\""), 1u) << log_;
  EXPECT_EQ(log_.find("hunter2"), std::string::npos) << log_;
}

// Issue #17: libpq's own words quoted the password, which reached /readyz and the
// log because the pattern redactor looks only for "://" and "password".
TEST(SchedulerRedactionTest, AKnownPasswordReachesNeitherReadinessNorTheLog) {
  std::vector<ScheduledCollector> v;
  ScheduledCollector c;
  c.name = "stub";
  c.collector = std::make_unique<StubCollector>(std::vector<double>{-3, -3});
  c.db = std::make_unique<DbSession>("postgresql://nowhere.invalid/x", "test");
  v.push_back(std::move(c));
  std::string log;
  FakeClock clock{FakeClock::time_point(seconds(1'000'000))};
  Logger logger(LogLevel::kDebug, LogFormat::kJson,
                Redactor(ConnectionSecrets("postgresql://postgres:S3cr%zzetPW@127.0.0.1:5432/db")));
  logger.SetSinkForTest(&log);
  Scheduler s(std::move(v), clock, logger);
  s.RunOnce(0);
  s.RunOnce(0);
  std::string body;
  EXPECT_FALSE(s.Ready(&body));
  EXPECT_NE(body.find("invalid percent-encoded token"), std::string::npos) << body;
  EXPECT_EQ(body.find("S3cr"), std::string::npos) << body;
  EXPECT_NE(log.find("collector failed"), std::string::npos) << log;
  EXPECT_EQ(log.find("S3cr"), std::string::npos) << log;
}

TEST_F(SchedulerTest, ReadinessFollowsTheThreeIntervalRule) {
  auto s = Make({-1, 5, -1, -1});
  std::string body;
  EXPECT_FALSE(s->Ready(&body));  // never sampled
  EXPECT_NE(body.find("\"starting\""), std::string::npos) << body;
  s->RunOnce(0);
  EXPECT_FALSE(s->Ready(&body));  // failed first
  EXPECT_NE(body.find("\"failing\""), std::string::npos) << body;
  EXPECT_EQ(body.find("hunter2"), std::string::npos) << body;
  s->RunOnce(0);
  EXPECT_TRUE(s->Ready(&body)) << body;
  s->RunOnce(0);  // fails at t0
  clock_.Advance(seconds(3));
  EXPECT_TRUE(s->Ready(&body)) << body;  // failing for exactly 3 intervals: still ready
  EXPECT_NE(body.find("\"degraded\""), std::string::npos) << body;
  clock_.Advance(milliseconds(1));
  EXPECT_FALSE(s->Ready(&body)) << body;
  EXPECT_NE(body.find("\"stub\""), std::string::npos) << body;
}

// Outcome -2: an optional table is missing.
TEST_F(SchedulerTest, UnavailableCollectorIsDownButNeitherAnErrorNorHoldingReadiness) {
  auto s = Make({-2, -2, -2, 3, -2});
  std::string body;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(s->RunOnce(0));
  auto g = s->Gather();
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_up", {{"collector", "stub"}}), 0);
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_errors_total", {{"collector", "stub"}}), 0);
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_cycles_total", {{"collector", "stub"}}), 3);
  EXPECT_EQ(testing::SeriesCount(g, "stub_value"), 0u);
  clock_.Advance(seconds(60));
  EXPECT_TRUE(s->Ready(&body)) << body;
  EXPECT_NE(body.find("\"unavailable\""), std::string::npos) << body;
  EXPECT_NE(body.find("workers does not exist"), std::string::npos) << body;
  EXPECT_TRUE(s->RunOnce(0));  // the table appeared
  EXPECT_EQ(testing::Value(s->Gather(), "stub_value", {}), 3);
  EXPECT_FALSE(s->RunOnce(0));  // and went away again: its series go with it
  EXPECT_EQ(testing::SeriesCount(s->Gather(), "stub_value"), 0u);
  auto count = [&](const std::string& needle) {
    size_t n = 0, pos = 0;
    while ((pos = log_.find(needle, pos)) != std::string::npos) ++n, ++pos;
    return n;
  };
  EXPECT_EQ(count("collector unavailable"), 2u) << log_;  // once per state change
  EXPECT_EQ(count("\"collector up\""), 1u) << log_;
  EXPECT_EQ(count("collector failed"), 0u) << log_;
}

TEST_F(SchedulerTest, CountsCyclesAndTheirTime) {
  auto s = Make({1, -1, 2});
  for (int i = 0; i < 3; ++i) s->RunOnce(0);
  auto g = s->Gather();
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_cycles_total", {{"collector", "stub"}}), 3);
  EXPECT_GE(testing::Value(g, "agent_exporter_collector_duration_seconds_total", {{"collector", "stub"}}),
            testing::Value(g, "agent_exporter_collector_duration_seconds", {{"collector", "stub"}}));
}

TEST_F(SchedulerTest, ThreadsRunAndStop) {
  std::vector<double> many(1000, 4);
  auto s = Make(many);
  s->Start();
  for (int i = 0; i < 200 && s->Status()[0].last_success == std::nullopt; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  s->Stop();
  EXPECT_TRUE(s->Status()[0].ever_succeeded);
}

// Counts its cycles; fails every cycle when told to.
class CountingCollector final : public Collector {
 public:
  explicit CountingCollector(bool fail) : fail_(fail) {}
  Snapshot Collect(DbSession&) override {
    ++cycles_;
    if (fail_) throw std::runtime_error("down");
    return {};
  }
  std::atomic<int>& cycles() { return cycles_; }

 private:
  const bool fail_;
  std::atomic<int> cycles_{0};
};

class SchedulerWakeTest : public ::testing::Test {
 protected:
  // One collector that would next run in an hour unless woken.
  std::unique_ptr<Scheduler> Make(bool fail, milliseconds gap) {
    auto collector = std::make_unique<CountingCollector>(fail);
    counter_ = collector.get();
    std::vector<ScheduledCollector> v;
    ScheduledCollector c;
    c.name = "realtime";
    c.schedule.interval = std::chrono::hours(1);
    c.collector = std::move(collector);
    c.db = std::make_unique<DbSession>("postgresql://nowhere.invalid/x", "test");
    v.push_back(std::move(c));
    logger_.SetSinkForTest(&log_);
    return std::make_unique<Scheduler>(std::move(v), clock_, logger_, gap);
  }
  // Waits (up to 10 s) until the collector has run at least n cycles.
  bool WaitForCycles(int n) {
    for (int i = 0; i < 2000 && counter_->cycles() < n; ++i) std::this_thread::sleep_for(milliseconds(5));
    return counter_->cycles() >= n;
  }
  CountingCollector* counter_ = nullptr;
  SystemClock clock_;
  Logger logger_{LogLevel::kInfo, LogFormat::kLogfmt};
  std::string log_;
};

TEST_F(SchedulerWakeTest, WakeRunsACycleLongBeforeTheInterval) {
  auto s = Make(false, milliseconds(10));
  s->Start();
  ASSERT_TRUE(WaitForCycles(1));
  s->Wake("runs");  // another collector's name: nothing happens to this one
  s->Wake("realtime");
  EXPECT_TRUE(WaitForCycles(2));
  s->Wake("realtime");
  EXPECT_TRUE(WaitForCycles(3));
  s->Stop();
  EXPECT_EQ(counter_->cycles(), 3);
  EXPECT_EQ(s->Status()[0].woken_cycles, 2u);
  EXPECT_EQ(testing::Value(s->Gather(), "agent_exporter_collector_woken_cycles_total", {{"collector", "realtime"}}),
            2);
}

TEST_F(SchedulerWakeTest, ABurstOfWakesCostsAtMostOneCyclePerGap) {
  const milliseconds gap(100);
  auto s = Make(false, gap);
  s->Start();
  ASSERT_TRUE(WaitForCycles(1));
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 2000; ++i) {
    s->Wake("realtime");
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  ASSERT_TRUE(WaitForCycles(2));  // the burst was seen
  std::this_thread::sleep_for(2 * gap);  // and its tail folded into one more cycle at most
  const auto elapsed = std::chrono::steady_clock::now() - started;
  s->Stop();
  const int woken = counter_->cycles() - 1;
  // One cycle per started gap, plus one for the requests of the last gap.
  const int bound = static_cast<int>(elapsed / gap) + 2;
  EXPECT_LE(woken, bound) << "2000 wakes over " << std::chrono::duration<double>(elapsed).count() << " s";
  EXPECT_GE(woken, 1);
}

TEST_F(SchedulerWakeTest, AFailingCollectorKeepsItsBackoff) {
  auto s = Make(true, milliseconds(0));
  s->Start();
  ASSERT_TRUE(WaitForCycles(1));
  for (int i = 0; i < 50; ++i) {
    s->Wake("realtime");
    std::this_thread::sleep_for(milliseconds(2));
  }
  std::this_thread::sleep_for(milliseconds(100));
  s->Stop();
  EXPECT_EQ(counter_->cycles(), 1);  // next attempt only after the backoff (an hour)
  EXPECT_EQ(s->Status()[0].woken_cycles, 0u);
}

// Always has more backlog to work through; counts its cycles.
class BacklogCollector final : public Collector {
 public:
  Snapshot Collect(DbSession&) override {
    ++cycles_;
    return {};
  }
  bool HasPendingWork() const override { return true; }
  void SetStartingUp(bool starting) override {
    if (cycles_ == 0) first_told_starting_ = starting;
    last_told_starting_ = starting;
  }
  std::atomic<int>& cycles() { return cycles_; }
  bool first_told_starting() const { return first_told_starting_; }
  bool last_told_starting() const { return last_told_starting_; }

 private:
  std::atomic<int> cycles_{0};
  std::atomic<bool> first_told_starting_{false};
  std::atomic<bool> last_told_starting_{false};
};

// Its first cycle blocks until released.
class GatedCollector final : public Collector {
 public:
  Snapshot Collect(DbSession&) override {
    while (!open_) std::this_thread::sleep_for(milliseconds(1));
    return {};
  }
  std::atomic<bool>& open() { return open_; }

 private:
  std::atomic<bool> open_{false};
};

TEST(SchedulerBacklogTest, ABacklogWaitsForEveryFirstCycleThenGoesOnAtOnce) {
  auto backlog = std::make_unique<BacklogCollector>();
  auto gated = std::make_unique<GatedCollector>();
  BacklogCollector* b = backlog.get();
  GatedCollector* g = gated.get();
  std::vector<ScheduledCollector> v(2);
  v[0].name = "patterns";
  v[0].collector = std::move(backlog);
  v[1].name = "runs";
  v[1].collector = std::move(gated);
  for (auto& c : v) {
    c.schedule.interval = std::chrono::hours(1);
    c.db = std::make_unique<DbSession>("postgresql://nowhere.invalid/x", "test");
  }
  SystemClock clock;
  Logger logger{LogLevel::kInfo, LogFormat::kLogfmt};
  std::string log;
  logger.SetSinkForTest(&log);
  Scheduler s(std::move(v), clock, logger, milliseconds(5));
  s.Start();
  for (int i = 0; i < 2000 && b->cycles() < 1; ++i) std::this_thread::sleep_for(milliseconds(5));
  std::this_thread::sleep_for(milliseconds(200));  // 40 gaps: without the wait, 40 cycles
  EXPECT_EQ(b->cycles(), 1) << "the backlog ran while the runs collector's first cycle was still going";
  g->open() = true;
  for (int i = 0; i < 2000 && b->cycles() < 5; ++i) std::this_thread::sleep_for(milliseconds(5));
  s.Stop();
  EXPECT_GE(b->cycles(), 5) << "the backlog did not go on after every first cycle ended";
  EXPECT_TRUE(b->first_told_starting());  // its first cycle ran while the runs one had not ended
  EXPECT_FALSE(b->last_told_starting());
  const auto gathered = s.Gather();
  EXPECT_EQ(testing::Value(gathered, "agent_exporter_collector_pending_work", {{"collector", "patterns"}}), 1);
  EXPECT_EQ(testing::Value(gathered, "agent_exporter_collector_pending_work", {{"collector", "runs"}}), 0);
}

}  // namespace
}  // namespace aee
