// Integration tests of the runs collector against a real PostgreSQL.
#include "collectors/runs_collector.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "core/db.h"
#include "exporter/config.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::At;
using testing::Ctx;
using testing::ExpectRunsMatchSql;
using testing::InsertFinishedRuns;
using testing::InsertWorkspacesAndAgents;
using testing::kAgent1;
using testing::kAgent2;
using testing::kAgent3;
using testing::kDay;
using testing::kNextDay;
using testing::kNoon;
using testing::kWs1;
using testing::kWs2;
using testing::Text;
using testing::Value;

class RunsCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override { InsertWorkspacesAndAgents(db_); }
  RunsCollector Make(RunsCollectorOptions opts = {}) { return RunsCollector(Ctx(clock_), opts); }
  DbSession Session() { return DbSession(db_.url(), "test"); }
  // testing::CheckStartupAndIncremental for the runs collector, at noon.
  void CheckStartupAndIncremental(const std::string& rows, const std::function<void(const Snapshot&)>& check) {
    testing::CheckStartupAndIncremental(
        db_, clock_, kNoon, "agent_runs", rows,
        [this] { return std::make_unique<RunsCollector>(Ctx(clock_), RunsCollectorOptions{}); }, check);
  }

  testing::TestDb db_;
  FakeClock clock_{kNoon};
};

TEST_F(RunsCollectorTest, StartupAggregateMatchesSql) {
  InsertFinishedRuns(db_, 3000, kDay, At("-1 minute"), 0.11);
  InsertFinishedRuns(db_, 200, "'2026-03-09 00:00:00+00'", kDay, 0.12);  // yesterday: not counted
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  ExpectRunsMatchSql(db_, snap, kDay, kNextDay);
  EXPECT_EQ(Value(snap, "agent_runs_counting_since_timestamp_seconds", {}), 1773100800);
  EXPECT_EQ(Value(snap, "agent_exporter_rows_read_total", {{"collector", "runs"}, {"scan", "startup"}}), 3000);
}

TEST_F(RunsCollectorTest, IncrementalReadsMatchSql) {
  auto c = Make({.read_batch_rows = 150});  // 400 rows a cycle: batches of 150, 150 and 100
  auto s = Session();
  c.Collect(s);  // empty day
  for (int i = 0; i < 5; ++i) {
    const std::string lo = At(std::to_string(i * 10) + " seconds");
    const std::string hi = At(std::to_string(i * 10 + 10) + " seconds");
    InsertFinishedRuns(db_, 400, lo, hi, 0.2 + i / 100.0);
    clock_.Advance(seconds(10));
    c.Collect(s);
  }
  InsertFinishedRuns(db_, 50, kNextDay, At("13 hours"), 0.3);  // tomorrow (clock skew): not today
  clock_.Advance(seconds(5));
  auto snap = c.Collect(s);
  ExpectRunsMatchSql(db_, snap, kDay, kNextDay);
  EXPECT_GT(Value(snap, "agent_exporter_rows_read_total", {{"collector", "runs"}, {"scan", "incremental"}}), 0);
}

TEST_F(RunsCollectorTest, RestartCountsRunsFinishedWhileStopped) {
  InsertFinishedRuns(db_, 500, kDay, At("0 seconds"), 0.4);
  std::string before;
  {
    auto c = Make();
    auto s = Session();
    before = Text(c.Collect(s), "agent_run");
  }
  // Runs finish while the exporter is down.
  InsertFinishedRuns(db_, 300, At("1 second"), At("60 seconds"), 0.41);
  clock_.Advance(minutes(1));
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  EXPECT_NE(Text(snap, "agent_run"), before);
  ExpectRunsMatchSql(db_, snap, kDay, kNextDay);
}

TEST_F(RunsCollectorTest, TwoReplicasExposeIdenticalValues) {
  auto a = Make();
  auto sa = Session();
  InsertFinishedRuns(db_, 700, kDay, At("0 seconds"), 0.5);
  a.Collect(sa);  // a starts with 700 rows, b starts later
  std::optional<RunsCollector> b;
  auto sb = Session();
  std::vector<prometheus::MetricFamily> snap_a, snap_b;
  for (int i = 0; i < 4; ++i) {
    InsertFinishedRuns(db_, 250, At(std::to_string(i * 5) + " seconds"), At(std::to_string(i * 5 + 5) + " seconds"),
                       0.51 + i / 100.0);
    clock_.Advance(seconds(5));
    snap_a = a.Collect(sa);
    if (i == 1) b.emplace(Make());
    if (b) snap_b = b->Collect(sb);
  }
  // Same rows, different start times and read histories: byte-identical values.
  EXPECT_EQ(Text(snap_a, "agent_run"), Text(snap_b, "agent_run"));
  ExpectRunsMatchSql(db_, snap_a, kDay, kNextDay);
}

TEST_F(RunsCollectorTest, DeletingRowsNeverLowersCounters) {
  InsertFinishedRuns(db_, 300, "'2026-03-09 00:00:00+00'", kDay, 0.6);
  InsertFinishedRuns(db_, 600, kDay, At("0 seconds"), 0.61);
  auto c = Make();
  auto s = Session();
  const std::string before = Text(c.Collect(s), "agent_run");
  db_.Exec("DELETE FROM agent_runs WHERE finished_at < " + kDay);  // retention job
  clock_.Advance(seconds(5));
  EXPECT_EQ(Text(c.Collect(s), "agent_run"), before);
  db_.Exec("DELETE FROM agent_runs WHERE finished_at >= " + kDay + " AND random() < 0.5");  // even today's
  clock_.Advance(seconds(5));
  EXPECT_EQ(Text(c.Collect(s), "agent_run"), before);
}

TEST_F(RunsCollectorTest, LateApplicationStampedCommitIsCountedOnceBySweep) {
  RunsCollectorOptions opts;
  opts.sweep_interval = seconds(30);
  opts.read_batch_rows = 7;  // the start-up ledger and every read in many batches
  auto c = Make(opts);
  auto s = Session();
  InsertFinishedRuns(db_, 100, kDay, At("0 seconds"), 0.7);
  c.Collect(s);
  // A platform transaction stamps finished_at = 11:58 (application clock) but
  // commits only after the exporter has read past 12:01.
  pqxx::connection writer(db_.url());
  pqxx::work late(writer);
  late.exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
                        "VALUES ('99999999-0000-0000-0000-000000000001', '") + kWs1 + "', '" + kAgent1 +
            "', 'failed', " + At("-3 minutes") + ", " + At("-150 seconds") + ", " + At("-2 minutes") + ")");
  for (int i = 0; i < 6; ++i) {
    InsertFinishedRuns(db_, 20, At(std::to_string(i * 10) + " seconds"), At(std::to_string(i * 10 + 10) + " seconds"), 0.71 + i / 100.0);
    clock_.Advance(seconds(10));
    c.Collect(s);
  }
  late.commit();
  for (int i = 0; i < 8; ++i) {  // several sweeps and fast reads after the commit
    clock_.Advance(seconds(10));
    c.Collect(s);
  }
  clock_.Advance(seconds(10));
  auto snap = c.Collect(s);
  ExpectRunsMatchSql(db_, snap, kDay, kNextDay);
  EXPECT_GT(Value(snap, "agent_exporter_rows_read_total", {{"collector", "runs"}, {"scan", "sweep"}}), 0);
}

TEST_F(RunsCollectorTest, LateCommitOutsideLatenessIsNotCounted) {
  RunsCollectorOptions opts;
  opts.lateness = minutes(1);
  opts.sweep_interval = seconds(30);
  auto c = Make(opts);
  auto s = Session();
  c.Collect(s);
  clock_.Advance(minutes(10));
  c.Collect(s);
  // Finished 9 minutes "ago" but committed now: beyond the 1m lateness.
  db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
                       "VALUES (gen_random_uuid(), '") + kWs1 + "', '" + kAgent1 + "', 'completed', " + At("1 minute") +
           ", " + At("1 minute") + ", " + At("1 minute") + ")");
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(seconds(30));
    c.Collect(s);
  }
  EXPECT_EQ(Value(c.Collect(s), "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "completed"}}), 0);
}

TEST_F(RunsCollectorTest, MidnightResetsToZeroAndCountsTheNewDay) {
  clock_.Set(Clock::time_point(seconds(1773187140)));  // 2026-03-10 23:59:00
  InsertFinishedRuns(db_, 200, kDay, "'2026-03-10 23:58:00+00'", 0.8);
  auto c = Make();
  auto s = Session();
  c.Collect(s);
  InsertFinishedRuns(db_, 30, "'2026-03-10 23:59:00+00'", "'2026-03-10 23:59:30+00'", 0.81);
  InsertFinishedRuns(db_, 40, kNextDay, "'2026-03-11 00:00:50+00'", 0.82);  // tomorrow, early
  clock_.Set(Clock::time_point(seconds(1773187190)));  // 23:59:50
  auto before = c.Collect(s);
  ExpectRunsMatchSql(db_, before, kDay, kNextDay);
  EXPECT_EQ(Value(before, "agent_runs_counting_since_timestamp_seconds", {}), 1773100800);

  clock_.Set(Clock::time_point(seconds(1773187260)));  // 2026-03-11 00:01:00
  auto after = c.Collect(s);
  EXPECT_EQ(Value(after, "agent_runs_counting_since_timestamp_seconds", {}), 1773187200);
  ExpectRunsMatchSql(db_, after, kNextDay, "'2026-03-12 00:00:00+00'");
  double total = 0;
  for (const auto& f : after) {
    if (f.name == "agent_runs_finished_total") for (const auto& m : f.metric) total += m.counter.value;
  }
  EXPECT_EQ(total, 40);
}

TEST_F(RunsCollectorTest, OddRowsAreSkippedWithReasonsAndNeverCrash) {
  const std::string cols = "(run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at, queue_wait_seconds, runtime_seconds, total_latency_seconds)";
  const std::string ws = std::string("'") + kWs1 + "'", ag = std::string("'") + kAgent1 + "'";
  auto t = [](const char* o) { return At(o); };
  const std::string rows = "INSERT INTO agent_runs " + cols + " VALUES "
           // valid, fully derived from timestamps
           "(gen_random_uuid(), " + ws + ", " + ag + ", 'completed', " + t("-60 seconds") + ", " + t("-50 seconds") + ", " + t("-10 seconds") + ", NULL, NULL, NULL),"
           // negative runtime column: run counted, runtime observation skipped
           "(gen_random_uuid(), " + ws + ", " + ag + ", 'completed', " + t("-60 seconds") + ", " + t("-50 seconds") + ", " + t("-10 seconds") + ", 10, -5, 50),"
           // started but no queued_at: queue wait and e2e cannot be derived
           "(gen_random_uuid(), " + ws + ", " + ag + ", 'failed', NULL, " + t("-50 seconds") + ", " + t("-10 seconds") + ", NULL, NULL, NULL),"
           // NaN and Infinity in the columns
           "(gen_random_uuid(), " + ws + ", " + ag + ", 'completed', " + t("-60 seconds") + ", " + t("-50 seconds") + ", " + t("-10 seconds") + ", 'NaN', 'Infinity', 50),"
           // unknown status and missing ids: the whole row is skipped
           "(gen_random_uuid(), " + ws + ", " + ag + ", 'exploded', " + t("-60 seconds") + ", " + t("-50 seconds") + ", " + t("-10 seconds") + ", NULL, NULL, NULL),"
           "(gen_random_uuid(), NULL, " + ag + ", 'completed', " + t("-60 seconds") + ", " + t("-50 seconds") + ", " + t("-10 seconds") + ", NULL, NULL, NULL),"
           "(gen_random_uuid(), " + ws + ", NULL, 'completed', " + t("-60 seconds") + ", " + t("-50 seconds") + ", " + t("-10 seconds") + ", NULL, NULL, NULL),"
           // finished before it started (clock skew): negative derived durations
           "(gen_random_uuid(), " + ws + ", " + ag + ", 'completed', " + t("-5 seconds") + ", " + t("-4 seconds") + ", " + t("-10 seconds") + ", NULL, NULL, NULL)";
  auto check = [&](const std::vector<prometheus::MetricFamily>& snap) {
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "completed"}}), 4);
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "failed"}}), 1);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "runs"}, {"reason", "unknown_status"}}), 1);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "runs"}, {"reason", "missing_workspace"}}), 1);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "runs"}, {"reason", "missing_agent"}}), 1);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "runs"}, {"reason", "negative_duration"}}), 3);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "runs"}, {"reason", "missing_timestamp"}}), 2);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "runs"}, {"reason", "invalid_value"}}), 2);
    auto d = testing::Find(snap, "agent_run_duration_seconds", {{"workspace_id", kWs1}});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->histogram.sample_count, 2u);  // the first and the third row
  };
  // The start-up aggregate and the incremental path must classify identically.
  CheckStartupAndIncremental(rows, check);
}

// Timestamps at +-infinity and latencies whose microsecond sums overflow 64 bits
// (both seen with hostile rows) are counted, never a failed cycle.
TEST_F(RunsCollectorTest, InfiniteTimestampsAndOverflowingSumsNeverFailACycle) {
  const std::string cols = "(run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at, queue_wait_seconds, runtime_seconds, total_latency_seconds)";
  const std::string ws = std::string("'") + kWs1 + "'", ag = std::string("'") + kAgent1 + "'";
  std::string rows = "INSERT INTO agent_runs " + cols + " VALUES (gen_random_uuid(), " + ws + ", " + ag +
                     ", 'completed', '-infinity', 'infinity', " + At("-10 seconds") + ", NULL, NULL, NULL)";
  for (int i = 0; i < 11; ++i) {
    rows += ", (gen_random_uuid(), " + ws + ", " + ag + ", 'completed', " + At("-60 seconds") + ", " + At("-50 seconds") +
            ", " + At("-10 seconds") + ", 9e11, 9e11, 9e11)";
  }
  auto check = [&](const std::vector<prometheus::MetricFamily>& snap) {
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "completed"}}), 12);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "runs"}, {"reason", "invalid_value"}}), 3);
    auto d = testing::Find(snap, "agent_run_duration_seconds", {{"workspace_id", kWs1}});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->histogram.sample_count, 11u);
    EXPECT_NEAR(d->histogram.sample_sum, 9223372036854.775807, 1);  // held at the int64 maximum of microseconds
  };
  CheckStartupAndIncremental(rows, check);
}

TEST_F(RunsCollectorTest, RunsCancelledInTheQueueCountButObserveNoLatency) {
  db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, finished_at) VALUES "
                       "(gen_random_uuid(), '") + kWs2 + "', '" + kAgent3 + "', 'cancelled', " + At("-30 seconds") + ", " + At("-1 second") + ")");
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs2}, {"agent_id", kAgent3}, {"status", "cancelled"}}), 1);
  EXPECT_EQ(testing::Find(snap, "agent_run_end_to_end_seconds", {{"workspace_id", kWs2}})->histogram.sample_count, 0u);
  EXPECT_EQ(testing::SeriesCount(snap, "agent_exporter_rows_skipped_total"), 0u);
}

TEST_F(RunsCollectorTest, KnownAgentsStartAtZero) {
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  for (const char* agent : {kAgent1, kAgent2}) {
    for (const char* status : {"completed", "failed", "cancelled"}) {
      EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", agent}, {"status", status}}), 0);
    }
  }
  EXPECT_EQ(testing::Find(snap, "agent_run_duration_seconds", {{"workspace_id", kWs2}})->histogram.sample_count, 0u);
}

TEST_F(RunsCollectorTest, AgentHistogramsFlagAddsAgentLabel) {
  InsertFinishedRuns(db_, 300, kDay, At("0 seconds"), 0.9);
  RunsCollectorOptions opts;
  opts.agent_histograms = true;
  auto c = Make(opts);
  auto s = Session();
  auto snap = c.Collect(s);
  std::uint64_t total = 0;
  for (const char* agent : {kAgent1, kAgent2}) {
    auto m = testing::Find(snap, "agent_run_duration_seconds", {{"workspace_id", kWs1}, {"agent_id", agent}});
    ASSERT_TRUE(m) << agent;
    total += m->histogram.sample_count;
  }
  EXPECT_EQ(std::to_string(total),
            db_.Scalar(std::string("SELECT count(*) FROM agent_runs WHERE started_at IS NOT NULL AND workspace_id = '") + kWs1 + "'"));
}

TEST(RunsCollectorSchemaTest, ReadsTablesFromTheConfiguredSchema) {
  testing::TestDb db("platform \"data\"");
  db.Exec("SET search_path = \"platform \"\"data\"\"\";" +
          std::string("INSERT INTO \"platform \"\"data\"\"\".workspaces VALUES ('") + kWs1 + "', 'A');" +
          "INSERT INTO \"platform \"\"data\"\"\".agents VALUES ('" + kAgent1 + "', '" + kWs1 + "', 'x');" +
          "INSERT INTO \"platform \"\"data\"\"\".agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
          "VALUES (gen_random_uuid(), '" + kWs1 + "', '" + kAgent1 + "', 'completed', " + At("-9 seconds") + ", " + At("-8 seconds") + ", " + At("-1 second") + ")");
  FakeClock clock(kNoon);
  RunsCollector c(Ctx(clock, "platform \"data\""), {});
  DbSession s(db.url(), "test");
  EXPECT_EQ(Value(c.Collect(s), "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "completed"}}), 1);
}

// Uses the database's own clock: finished_at = now() inside a transaction that
// commits after the exporter has read newer rows. The frontier (oldest open
// transaction) makes the very next read count it, with the sweep switched off.
TEST(RunsCollectorLateCommitTest, DatabaseStampedLateCommitIsCountedAtOnceWithoutSweep) {
  testing::TestDb db;
  InsertWorkspacesAndAgents(db);
  SystemClock clock;
  RunsCollectorOptions opts;
  opts.sweep_interval = milliseconds(0);
  RunsCollector c(Ctx(clock), opts);
  const std::string insert =
      std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
                  "VALUES (gen_random_uuid(), '") + kWs1 + "', '" + kAgent1 + "', ";
  auto [snap, next] = testing::CommitLateAfterNewerReads(
      db, c, insert + "'failed', now() - interval '3 s', now() - interval '2 s', now())",
      insert + "'completed', now() - interval '3 s', now() - interval '2 s', clock_timestamp())");
  EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "failed"}}), 1);
  EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "completed"}}), 3);
  EXPECT_EQ(Value(next, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "failed"}}), 1);
  EXPECT_EQ(Value(next, "agent_exporter_rows_read_total", {{"collector", "runs"}, {"scan", "sweep"}}), 0);
}

}  // namespace
}  // namespace aee

namespace aee {
namespace {

// An exporter role without pg_read_all_stats cannot see the platform's open
// transactions: it says so once and the sweep still counts the late commit once.
TEST(RunsCollectorLateCommitTest, WithoutStatsPrivilegeTheSweepCountsLateCommits) {
  testing::TestDb db;
  InsertWorkspacesAndAgents(db);
  const std::string role = "exporter_" + db.name();
  db.Exec("CREATE ROLE " + role + " LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + role);
  const std::string url = db.UrlAs(role);
  SystemClock clock;
  Logger logger(LogLevel::kInfo, LogFormat::kLogfmt);
  std::string log;
  logger.SetSinkForTest(&log);
  CollectorContext ctx = Ctx(clock);
  ctx.logger = &logger;
  RunsCollectorOptions opts;
  opts.sweep_interval = milliseconds(2500);
  RunsCollector c(ctx, opts);
  DbSession s(url, "test");
  c.Collect(s);
  pqxx::connection writer(db.url());
  pqxx::work late(writer);
  late.exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
                        "VALUES (gen_random_uuid(), '") + kWs1 + "', '" + kAgent1 + "', 'failed', now(), now(), now())");
  std::this_thread::sleep_for(milliseconds(2600));
  c.Collect(s);  // reads past the late row's finished_at
  late.commit();
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(milliseconds(1000));
    c.Collect(s);
  }
  auto snap = c.Collect(s);
  EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "failed"}}), 1);
  EXPECT_GT(Value(snap, "agent_exporter_rows_read_total", {{"collector", "runs"}, {"scan", "sweep"}}), 0);
  EXPECT_NE(log.find("pg_read_all_stats"), std::string::npos) << log;
  s.Reset();
  db.Exec("DROP OWNED BY " + role + "; DROP ROLE " + role);
}

}  // namespace
}  // namespace aee
