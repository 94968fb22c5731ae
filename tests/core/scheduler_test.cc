#include "core/scheduler.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <stdexcept>

#include "tests/support/fake_clock.h"
#include "tests/support/snapshot.h"

namespace aee {
namespace {

using prometheus::MetricType;
using std::chrono::hours;
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

// Scripted like StubCollector but for the scheduler's threads: each cycle takes the
// next outcome (the last repeats), lasts `takes` on the fake steady clock, may
// block until opened, and lets the test wait for a number of cycles.
class ScriptedCollector final : public Collector {
 public:
  enum class Outcome { kOk, kFail, kUnavailable };
  ScriptedCollector(std::vector<Outcome> script, FakeSteadyClock& clock) : script_(std::move(script)), clock_(clock) {}

  Snapshot Collect(DbSession&) override {
    std::unique_lock lock(mu_);
    const Outcome outcome = script_[std::min(cycles_, script_.size() - 1)];
    ++cycles_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
    lock.unlock();
    clock_.Advance(takes_);
    if (outcome == Outcome::kUnavailable) throw CollectorUnavailable("table \"public\".workers does not exist");
    if (outcome == Outcome::kFail) throw std::runtime_error("down");
    return {};
  }
  bool HasPendingWork() const override { return pending_; }
  void SetStartingUp(bool starting) override {
    std::lock_guard lock(mu_);
    if (cycles_ == 0) first_told_starting_ = starting;
    last_told_starting_ = starting;
  }

  void Takes(SteadyClock::duration d) { takes_ = d; }
  void AlwaysPending() { pending_ = true; }
  void Close() { open_ = false; }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    changed_.notify_all();
  }
  size_t cycles() const {
    std::lock_guard lock(mu_);
    return cycles_;
  }
  /// Waits (10 s of real time at most) until at least n cycles have begun.
  bool WaitForCycles(size_t n) const {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, seconds(10), [&] { return cycles_ >= n; });
  }
  bool first_told_starting() const {
    std::lock_guard lock(mu_);
    return first_told_starting_;
  }
  bool last_told_starting() const {
    std::lock_guard lock(mu_);
    return last_told_starting_;
  }

 private:
  const std::vector<Outcome> script_;
  FakeSteadyClock& clock_;
  SteadyClock::duration takes_{0};
  bool pending_ = false;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  size_t cycles_ = 0;  // guarded by mu_
  bool open_ = true;   // guarded by mu_
  bool first_told_starting_ = false;
  bool last_told_starting_ = false;
};

using Outcome = ScriptedCollector::Outcome;

// Scheduler threads on a fake steady clock: nothing here sleeps; the tests wait
// (with a real-time limit for failure) until a thread reaches a wait, then move time.
class SchedulerTimingTest : public ::testing::Test {
 protected:
  // A failed assertion returns early: open every gate so that Stop() can join.
  ~SchedulerTimingTest() override {
    for (ScriptedCollector* c : added_) c->Open();
    scheduler_.reset();
  }
  ScriptedCollector& Add(std::string name, milliseconds interval, std::vector<Outcome> script) {
    auto collector = std::make_unique<ScriptedCollector>(std::move(script), steady_);
    ScriptedCollector& ref = *collector;
    added_.push_back(&ref);
    ScheduledCollector c;
    c.name = std::move(name);
    c.schedule.interval = interval;
    c.collector = std::move(collector);
    c.db = std::make_unique<DbSession>("postgresql://nowhere.invalid/x", "test");
    collectors_.push_back(std::move(c));
    return ref;
  }
  Scheduler& Make(milliseconds gap = milliseconds(20)) {
    logger_.SetSinkForTest(&log_);
    scheduler_ = std::make_unique<Scheduler>(std::move(collectors_), wall_, logger_, gap, steady_);
    return *scheduler_;
  }
  Scheduler& Start(milliseconds gap = milliseconds(20)) {
    Make(gap).Start();
    return *scheduler_;
  }
  // One "realtime" collector due again in an hour, started and past its first cycle.
  ScriptedCollector& StartHourly(Outcome outcome, milliseconds gap) {
    ScriptedCollector& c = Add("realtime", hours(1), {outcome});
    Start(gap);
    EXPECT_TRUE(c.WaitForCycles(1));
    EXPECT_TRUE(steady_.WaitForDeadlineIn(hours(1)));
    return c;
  }
  // Both clocks: readiness reads the wall clock, the loop the steady one.
  void Advance(SteadyClock::duration d) {
    wall_.Advance(std::chrono::duration_cast<std::chrono::microseconds>(d));
    steady_.Advance(d);
  }
  // Moves time to just short of the wait the collector's thread is in and checks
  // that the threads it woke went back to waiting without a cycle of c; then
  // completes the wait and checks that c's next cycle begins.
  void ExpectWaitOf(ScriptedCollector& c, SteadyClock::duration wait) {
    const size_t cycles = c.cycles();
    ASSERT_TRUE(steady_.WaitForDeadlineIn(wait)) << "no thread waits " << wait.count() << " ns after cycle " << cycles;
    wall_.Advance(std::chrono::duration_cast<std::chrono::microseconds>(wait - milliseconds(1)));
    ASSERT_TRUE(steady_.AdvanceAndAwaitWaits(wait - milliseconds(1)));
    EXPECT_EQ(c.cycles(), cycles) << "a cycle began before its wait of " << wait.count() << " ns ended";
    Advance(milliseconds(1));
    ASSERT_TRUE(c.WaitForCycles(cycles + 1)) << "no cycle after a wait of " << wait.count() << " ns";
  }
  const CollectorStatus& StatusOf(size_t index) {
    status_ = scheduler_->Status();
    return status_.at(index);
  }

  FakeClock wall_{FakeClock::time_point(seconds(1'000'000))};
  FakeSteadyClock steady_;
  Logger logger_{LogLevel::kInfo, LogFormat::kLogfmt};
  std::string log_;
  std::vector<ScheduledCollector> collectors_;
  std::vector<ScriptedCollector*> added_;  // owned by collectors_, then by scheduler_
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<CollectorStatus> status_;
};

TEST_F(SchedulerTimingTest, CyclesStartOneIntervalApartOnTheSteadyClock) {
  ScriptedCollector& c = Add("stub", seconds(1), {Outcome::kOk});
  Scheduler& s = Start();
  ASSERT_TRUE(c.WaitForCycles(1));
  for (int i = 0; i < 3; ++i) ExpectWaitOf(c, seconds(1));
  s.Stop();
  EXPECT_EQ(c.cycles(), 4u);
  EXPECT_TRUE(StatusOf(0).ever_succeeded);
  EXPECT_EQ(StatusOf(0).woken_cycles, 0u);
}

// The interval runs from the start of a cycle: a long cycle shortens the wait after it.
TEST_F(SchedulerTimingTest, TheIntervalCountsFromTheStartOfACycle) {
  ScriptedCollector& c = Add("stub", seconds(10), {Outcome::kOk});
  c.Takes(seconds(3));
  Scheduler& s = Start();
  ASSERT_TRUE(c.WaitForCycles(1));
  ExpectWaitOf(c, seconds(7));
  ExpectWaitOf(c, seconds(7));
  s.Stop();
  EXPECT_DOUBLE_EQ(StatusOf(0).last_duration_seconds, 3);
}

TEST_F(SchedulerTimingTest, StopEndsAThreadThatWaitsAnHour) {
  ScriptedCollector& c = Add("stub", hours(1), {Outcome::kOk});
  Scheduler& s = Start();
  ASSERT_TRUE(c.WaitForCycles(1));
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1)));
  s.Stop();  // returns without time moving
  EXPECT_EQ(c.cycles(), 1u);
}

// 1, 2, 4, 8, 16 s, then the 30 s cap, exactly.
TEST_F(SchedulerTimingTest, BackoffDoublesFromTheIntervalToItsCap) {
  ScriptedCollector& c = Add("stub", seconds(1), {Outcome::kFail});
  Scheduler& s = Start();
  ASSERT_TRUE(c.WaitForCycles(1));
  for (int wait : {1, 2, 4, 8, 16, 30, 30, 30}) ExpectWaitOf(c, seconds(wait));
  s.Stop();
  EXPECT_EQ(c.cycles(), 9u);
  EXPECT_EQ(StatusOf(0).errors, 9u);
}

TEST_F(SchedulerTimingTest, BackoffNeverWaitsLessThanTheIntervalNorDoublesPastTheCap) {
  ScriptedCollector& slow = Add("slow", seconds(20), {Outcome::kFail});
  ScriptedCollector& hourly = Add("hourly", hours(1), {Outcome::kFail});
  Scheduler& s = Start();
  // Both threads wait before time moves: a failing one reads the time for its backoff.
  ASSERT_TRUE(steady_.WaitForDeadlineIn(seconds(20)));
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1)));
  ExpectWaitOf(slow, seconds(20));
  ExpectWaitOf(slow, seconds(30));  // 40 s capped
  ExpectWaitOf(slow, seconds(30));
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1) - seconds(80)));  // the hourly one still waits its first hour
  EXPECT_EQ(hourly.cycles(), 1u);
  ExpectWaitOf(hourly, hours(1) - seconds(80));
  ExpectWaitOf(hourly, hours(1));  // a cap below the interval does not shorten it
  s.Stop();
}

TEST_F(SchedulerTimingTest, ASuccessEndsTheBackoff) {
  ScriptedCollector& c = Add("stub", seconds(1), {Outcome::kFail, Outcome::kFail, Outcome::kFail, Outcome::kOk,
                                                  Outcome::kFail, Outcome::kOk});
  Scheduler& s = Start();
  ASSERT_TRUE(c.WaitForCycles(1));
  for (int wait : {1, 2, 4, 1, 1, 1}) ExpectWaitOf(c, seconds(wait));
  s.Stop();
}

// A missing optional source is checked again every interval, without backoff.
TEST_F(SchedulerTimingTest, AnUnavailableCollectorIsCheckedEveryInterval) {
  ScriptedCollector& c = Add("stub", seconds(5), {Outcome::kUnavailable});
  Scheduler& s = Start();
  ASSERT_TRUE(c.WaitForCycles(1));
  for (int i = 0; i < 4; ++i) ExpectWaitOf(c, seconds(5));
  s.Stop();
  EXPECT_EQ(StatusOf(0).errors, 0u);
}

TEST_F(SchedulerTimingTest, ReadinessIsLostAfterThreeFailingIntervals) {
  ScriptedCollector& c = Add("stub", seconds(1), {Outcome::kOk, Outcome::kFail});
  Scheduler& s = Start();
  ASSERT_TRUE(c.WaitForCycles(1));
  std::string body;
  ASSERT_TRUE(steady_.WaitForDeadlineIn(seconds(1)));
  EXPECT_TRUE(s.Ready(&body)) << body;
  ExpectWaitOf(c, seconds(1));  // cycle 2 fails at t
  ExpectWaitOf(c, seconds(1));  // cycle 3 at t + 1 s
  ExpectWaitOf(c, seconds(2));  // cycle 4 at t + 3 s
  ASSERT_TRUE(steady_.WaitForDeadlineIn(seconds(4)));  // cycle 4 has ended
  EXPECT_TRUE(s.Ready(&body)) << body;  // failing for exactly 3 intervals: still ready
  EXPECT_NE(body.find("\"degraded\""), std::string::npos) << body;
  Advance(milliseconds(1));
  EXPECT_FALSE(s.Ready(&body)) << body;
  EXPECT_NE(body.find("\"failing\""), std::string::npos) << body;
  s.Stop();
  EXPECT_EQ(StatusOf(0).errors, 3u);
}

TEST_F(SchedulerTimingTest, WakeRunsACycleOneGapAfterTheLastStartInsteadOfAnHour) {
  ScriptedCollector& c = StartHourly(Outcome::kOk, milliseconds(10));
  Scheduler& s = *scheduler_;
  s.Wake("runs");  // another collector's name: nothing happens to this one
  s.Wake("realtime");
  ExpectWaitOf(c, milliseconds(10));
  s.Wake("realtime");
  ExpectWaitOf(c, milliseconds(10));
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1)));  // back to its interval
  s.Stop();
  EXPECT_EQ(c.cycles(), 3u);
  EXPECT_EQ(StatusOf(0).woken_cycles, 2u);
  EXPECT_EQ(testing::Value(s.Gather(), "agent_exporter_collector_woken_cycles_total", {{"collector", "realtime"}}),
            2);
}

// A wake long after the last start (more than the gap) runs a cycle at once.
TEST_F(SchedulerTimingTest, AWakeAfterTheGapRunsACycleAtOnce) {
  ScriptedCollector& c = StartHourly(Outcome::kOk, milliseconds(10));
  Scheduler& s = *scheduler_;
  Advance(seconds(5));
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1) - seconds(5)));
  s.Wake("realtime");
  ASSERT_TRUE(c.WaitForCycles(2));
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1)));
  s.Stop();
  EXPECT_EQ(StatusOf(0).woken_cycles, 1u);
}

TEST_F(SchedulerTimingTest, ABurstOfWakesCostsOneCyclePerGap) {
  const milliseconds gap(100);
  ScriptedCollector& c = StartHourly(Outcome::kOk, gap);
  Scheduler& s = *scheduler_;
  for (int i = 0; i < 1000; ++i) s.Wake("realtime");
  ASSERT_TRUE(steady_.WaitForDeadlineIn(gap));
  for (int i = 0; i < 1000; ++i) s.Wake("realtime");
  Advance(gap);
  ASSERT_TRUE(c.WaitForCycles(2));
  // Requests made during the cycle, and through the next gap, fold into one more.
  for (int i = 0; i < 1000; ++i) s.Wake("realtime");
  ASSERT_TRUE(steady_.WaitForDeadlineIn(gap));
  Advance(gap / 2);
  for (int i = 0; i < 1000; ++i) s.Wake("realtime");
  ExpectWaitOf(c, gap / 2);
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1)));
  s.Stop();
  EXPECT_EQ(c.cycles(), 3u);
  EXPECT_EQ(StatusOf(0).woken_cycles, 2u);
}

// A collector's own notify coalesce (the runs collector's 1 s) holds its woken
// cycles apart while the others keep the scheduler's gap.
TEST_F(SchedulerTimingTest, ACollectorsOwnCoalesceHoldsOnlyItsWokenCycles) {
  ScriptedCollector& realtime = Add("realtime", hours(1), {Outcome::kOk});
  ScriptedCollector& runs = Add("runs", hours(1), {Outcome::kOk});
  collectors_.back().schedule.notify_coalesce = seconds(1);
  Scheduler& s = Start(milliseconds(10));
  ASSERT_TRUE(realtime.WaitForCycles(1));
  ASSERT_TRUE(runs.WaitForCycles(1));
  s.Wake("realtime");
  s.Wake("runs");
  ExpectWaitOf(realtime, milliseconds(10));
  EXPECT_EQ(runs.cycles(), 1u) << "woken after the scheduler's gap instead of its own";
  ExpectWaitOf(runs, milliseconds(990));
  s.Stop();
  EXPECT_EQ(StatusOf(0).woken_cycles, 1u);
  EXPECT_EQ(StatusOf(1).woken_cycles, 1u);
}

// A cycle longer than a quarter of the gap spaces the woken cycles instead: the
// next woken start waits four times the last cycle's duration after its start, so
// notifications cannot keep a collector busy more than a quarter of the time.
TEST_F(SchedulerTimingTest, AWokenCycleWaitsFourTimesTheLastCycle) {
  ScriptedCollector& c = StartHourly(Outcome::kOk, milliseconds(10));
  Scheduler& s = *scheduler_;
  c.Takes(milliseconds(30));  // set while its thread waits, as below
  s.Wake("realtime");
  ExpectWaitOf(c, milliseconds(10));  // the first cycle took no time: the gap
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1) - milliseconds(30)));  // that cycle took 30 ms
  c.Takes(milliseconds(1));
  s.Wake("realtime");
  ExpectWaitOf(c, milliseconds(120 - 30));  // 4 x 30 ms after its start
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1) - milliseconds(1)));
  s.Wake("realtime");
  ExpectWaitOf(c, milliseconds(10 - 1));  // a short cycle keeps the gap
  s.Stop();
  EXPECT_EQ(StatusOf(0).woken_cycles, 3u);
}

// The spacing never holds a woken cycle past the collector's interval: a cycle of
// 400 ms on a 1 s interval, woken, starts at its interval, not 1.6 s after the last.
TEST_F(SchedulerTimingTest, AWokenCycleIsNeverLaterThanItsInterval) {
  ScriptedCollector& c = Add("realtime", seconds(1), {Outcome::kOk});
  c.Takes(milliseconds(400));
  Scheduler& s = Start(milliseconds(10));
  ASSERT_TRUE(c.WaitForCycles(1));
  ASSERT_TRUE(steady_.WaitForDeadlineIn(milliseconds(600)));  // its interval, after a 400 ms cycle
  s.Wake("realtime");
  ExpectWaitOf(c, milliseconds(600));
  s.Stop();
  EXPECT_EQ(StatusOf(0).woken_cycles, 0u) << "it ran on its interval";
}

TEST_F(SchedulerTimingTest, AFailingCollectorKeepsItsBackoff) {
  ScriptedCollector& c = StartHourly(Outcome::kFail, milliseconds(0));
  Scheduler& s = *scheduler_;
  for (int i = 0; i < 50; ++i) {
    const auto waits = steady_.WaitsBegun();
    s.Wake("realtime");
    ASSERT_TRUE(steady_.WaitForWaitsBegun(waits + 1));  // woken, and back to its backoff
  }
  EXPECT_EQ(c.cycles(), 1u);
  ExpectWaitOf(c, hours(1));  // the next attempt only after the backoff
  s.Stop();
  EXPECT_EQ(c.cycles(), 2u);
  EXPECT_EQ(StatusOf(0).woken_cycles, 0u);
}

TEST_F(SchedulerTimingTest, ABacklogWaitsForEveryFirstCycleThenGoesOnOneCyclePerGap) {
  const milliseconds gap(5);
  ScriptedCollector& backlog = Add("patterns", hours(1), {Outcome::kOk});
  ScriptedCollector& gated = Add("runs", hours(1), {Outcome::kOk});
  backlog.AlwaysPending();
  gated.Close();
  Scheduler& s = Start(gap);
  ASSERT_TRUE(backlog.WaitForCycles(1));
  ASSERT_TRUE(gated.WaitForCycles(1));
  // While the runs collector's first cycle goes on, the backlog waits its interval.
  ASSERT_TRUE(steady_.WaitForDeadlineIn(hours(1)));
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(steady_.AdvanceAndAwaitWaits(gap));
  EXPECT_EQ(backlog.cycles(), 1u) << "the backlog ran while the runs collector's first cycle was still going";
  gated.Open();  // 200 ms since the backlog's first start: it goes on at once
  ASSERT_TRUE(backlog.WaitForCycles(2));
  for (int i = 0; i < 4; ++i) ExpectWaitOf(backlog, gap);
  s.Stop();
  EXPECT_EQ(backlog.cycles(), 6u);
  EXPECT_TRUE(backlog.first_told_starting());  // its first cycle ran while the runs one had not ended
  EXPECT_FALSE(backlog.last_told_starting());
  EXPECT_EQ(StatusOf(0).woken_cycles, 0u);
  const auto gathered = s.Gather();
  EXPECT_EQ(testing::Value(gathered, "agent_exporter_collector_pending_work", {{"collector", "patterns"}}), 1);
  EXPECT_EQ(testing::Value(gathered, "agent_exporter_collector_pending_work", {{"collector", "runs"}}), 0);
}

TEST_F(SchedulerTimingTest, CountsCyclesAndTheirTime) {
  ScriptedCollector& c = Add("stub", hours(1), {Outcome::kOk, Outcome::kFail, Outcome::kOk});
  c.Takes(milliseconds(250));
  Scheduler& s = Make();
  for (int i = 0; i < 3; ++i) s.RunOnce(0);
  auto g = s.Gather();
  EXPECT_EQ(testing::Value(g, "agent_exporter_collector_cycles_total", {{"collector", "stub"}}), 3);
  EXPECT_DOUBLE_EQ(testing::Value(g, "agent_exporter_collector_duration_seconds", {{"collector", "stub"}}), 0.25);
  EXPECT_DOUBLE_EQ(testing::Value(g, "agent_exporter_collector_duration_seconds_total", {{"collector", "stub"}}),
                   0.75);
}

}  // namespace
}  // namespace aee
