// agent_execution_rollup against a real PostgreSQL: every column of
// analytics.execution_metrics_minute compared with SQL over the raw rows, late
// commits, idempotent re-runs, resume after a restart, backfill, queue depth and
// worker sampling with an injected clock; its flags and the binary's exit codes.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "collectors/collector.h"
#include "core/db.h"
#include "core/log.h"
#include "rollup/rollup_config.h"
#include "rollup/rollup_writer.h"
#include "tests/support/run_data.h"
#include "tests/support/test_db.h"

namespace aee::rollup {
namespace {

using aee::testing::kWs1;
using aee::testing::kWs2;
using aee::testing::TestDb;
using std::chrono::microseconds;

constexpr std::int64_t kMin = RollupWriter::kMinuteUs;
constexpr std::int64_t kSec = 1'000'000;

std::int64_t RealNowUs() {
  return std::chrono::duration_cast<microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Ts(std::int64_t us) { return "'" + FormatTimestampUs(us) + "'::timestamptz"; }

// The definition of every column (docs/rollup.md, "What a row holds"), written
// apart from the writer's SQL: minutes by date_bin, latencies in ms from the
// columns or the timestamps, percentile_cont, half away from zero, capped.
std::string ExpectedRunsSql(const std::string& schema, std::int64_t lo, std::int64_t hi) {
  return R"SQL(
WITH runs AS (
  SELECT r.workspace_id, date_bin('1 minute', r.finished_at, timestamptz '2000-01-01 00:00:00+00') AS minute, r.status,
         CASE WHEN r.started_at IS NOT NULL OR r.runtime_seconds IS NOT NULL
              THEN 1000 * coalesce(r.queue_wait_seconds, extract(epoch FROM r.started_at - r.queued_at)::float8) END AS q,
         CASE WHEN r.started_at IS NOT NULL OR r.runtime_seconds IS NOT NULL
              THEN 1000 * coalesce(r.runtime_seconds, extract(epoch FROM r.finished_at - r.started_at)::float8) END AS x
  FROM )SQL" + schema + ".agent_runs r JOIN " + schema + R"SQL(.workspaces w ON w.id = r.workspace_id
  WHERE r.status IN ('completed', 'failed', 'cancelled')
    AND r.finished_at >= )SQL" + Ts(lo) + " AND r.finished_at < " + Ts(hi) + R"SQL(
), ok AS (
  SELECT workspace_id, minute, status,
         CASE WHEN q >= 0 AND q <= 1e15 THEN q END AS q, CASE WHEN x >= 0 AND x <= 1e15 THEN x END AS x
  FROM runs
)
SELECT workspace_id, minute, count(*)::int, (count(*) FILTER (WHERE status = 'completed'))::int,
       (count(*) FILTER (WHERE status = 'failed'))::int,
       least(round(avg(q)::numeric), 2147483647)::int,
       least(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY q))::numeric), 2147483647)::int,
       least(round((percentile_cont(0.95) WITHIN GROUP (ORDER BY q))::numeric), 2147483647)::int,
       least(round(avg(x)::numeric), 2147483647)::int,
       least(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY x))::numeric), 2147483647)::int,
       least(round((percentile_cont(0.95) WITHIN GROUP (ORDER BY x))::numeric), 2147483647)::int,
       0, NULL::numeric, NULL::numeric, NULL::numeric, NULL::int
FROM ok GROUP BY 1, 2
)SQL";
}

std::string TableSql(std::int64_t lo, std::int64_t hi) {
  return "SELECT workspace_id, minute, total_executions, successful_executions, failed_executions, "
         "avg_queue_latency, p50_queue_latency, p95_queue_latency, avg_execution_latency, p50_execution_latency, "
         "p95_execution_latency, max_queue_depth, avg_queue_depth, avg_cpu_usage, avg_memory_usage, active_workers "
         "FROM analytics.execution_metrics_minute WHERE minute >= " + Ts(lo) + " AND minute < " + Ts(hi);
}

// Every column of every row in [lo, hi) equals the SQL over the raw rows, and the
// table holds no other row there. Returns the number of rows compared.
size_t ExpectTableMatchesRawRows(TestDb& db, std::int64_t lo, std::int64_t hi, const std::string& schema = "public") {
  const std::string expected = ExpectedRunsSql(schema, lo, hi), table = TableSql(lo, hi);
  for (const auto& [a, b, what] : {std::tuple{expected, table, "expected but not in the table"},
                                   std::tuple{table, expected, "in the table but not expected"}}) {
    const pqxx::result diff = db.Query("(" + a + ") EXCEPT ALL (" + b + ")");
    for (const auto& row : diff) {
      std::string line;
      for (const auto& f : row) line += std::string(f.is_null() ? "NULL" : f.c_str()) + " ";
      ADD_FAILURE() << what << ": " << line;
    }
  }
  return static_cast<size_t>(std::stoul(db.Scalar("SELECT count(*) FROM (" + table + ") t")));
}

class RollupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (TestDb::ServerUrl().empty()) GTEST_SKIP() << "AEE_TEST_DB_URL not set";
    db_ = std::make_unique<TestDb>();
    db_->Exec(aee::testing::ReadSourceFile("schema/analytics.sql"));
    aee::testing::InsertWorkspacesAndAgents(*db_);
    session_ = std::make_unique<DbSession>(db_->url(), "rollup_test");
  }

  RollupOptions Options(bool sampling = false) {
    RollupOptions o;
    o.sampling = sampling;
    o.sweep_interval = std::chrono::milliseconds(0);
    return o;
  }

  std::string Xmins(std::int64_t lo, std::int64_t hi) {
    std::string out;
    for (const auto& row : db_->Query("SELECT workspace_id, minute, xmin::text FROM analytics.execution_metrics_minute "
                                      "WHERE minute >= " + Ts(lo) + " AND minute < " + Ts(hi) + " ORDER BY 1, 2")) {
      out += std::string(row[0].c_str()) + row[1].c_str() + row[2].c_str() + "\n";
    }
    return out;
  }

  void InsertRun(const std::string& workspace, std::int64_t finished_us, const std::string& status = "completed",
                 const std::string& queue_wait = "1.5", const std::string& runtime = "2.25") {
    db_->Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at, "
              "queue_wait_seconds, runtime_seconds) VALUES (gen_random_uuid(), " +
              (workspace == "NULL" ? workspace : "'" + workspace + "'") + ", '" + aee::testing::kAgent1 + "', '" +
              status + "', " + Ts(finished_us - 10 * kSec) + ", " + Ts(finished_us - 5 * kSec) + ", " +
              Ts(finished_us) + ", " + queue_wait + ", " + runtime + ")");
  }

  std::unique_ptr<TestDb> db_;
  std::unique_ptr<DbSession> session_;
};

TEST_F(RollupTest, EveryColumnEqualsSqlOverTheRawRows) {
  const std::int64_t base = RollupWriter::MinuteStart(RealNowUs()) - 60 * kMin;
  aee::testing::InsertFinishedRuns(*db_, 4000, Ts(base), Ts(base + 20 * kMin), 0.42);
  // Rows that must not count, or only in some columns.
  InsertRun(kWs1, base + 3 * kMin + kSec, "running");                           // not finished
  InsertRun("NULL", base + 3 * kMin + kSec);                                    // no workspace
  InsertRun("99999999-9999-9999-9999-999999999999", base + 3 * kMin + kSec);    // unknown workspace
  InsertRun(kWs1, base + 4 * kMin + kSec, "failed", "-3", "'NaN'");             // no latency at all
  InsertRun(kWs2, base + 5 * kMin + kSec, "completed", "1e10", "2e12");         // capped, absurd
  InsertRun(kWs2, base + 6 * kMin + kSec, "cancelled", "NULL", "NULL");         // from the timestamps

  RollupWriter writer(Options(), nullptr);
  writer.Backfill(*session_, base, base + 20 * kMin);
  EXPECT_EQ(ExpectTableMatchesRawRows(*db_, base - kMin, base + 21 * kMin), 40u);  // 2 workspaces x 20 minutes
  EXPECT_EQ(db_->Scalar("SELECT total_executions - successful_executions - failed_executions > 0 "
                        "FROM analytics.execution_metrics_minute WHERE workspace_id = '" + std::string(kWs2) +
                        "' AND minute = " + Ts(base + 6 * kMin)),
            "t");  // the cancelled run counts in the total only
  EXPECT_EQ(db_->Scalar("SELECT max(avg_queue_latency) FROM analytics.execution_metrics_minute"), "2147483647");
  EXPECT_EQ(writer.stats().rows_written, 40u);
}

TEST_F(RollupTest, ARerunRewritesNothingAndAChangedMinuteOnly) {
  const std::int64_t base = RollupWriter::MinuteStart(RealNowUs()) - 90 * kMin;
  aee::testing::InsertFinishedRuns(*db_, 1500, Ts(base), Ts(base + 10 * kMin), 0.7);
  RollupWriter writer(Options(), nullptr);
  writer.Backfill(*session_, base, base + 10 * kMin);
  const std::string ids = db_->Scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM analytics.execution_metrics_minute");
  const std::string before = Xmins(base, base + 10 * kMin);
  const std::uint64_t written = writer.stats().rows_written;

  writer.Backfill(*session_, base, base + 10 * kMin);
  EXPECT_EQ(Xmins(base, base + 10 * kMin), before);  // not even rewritten with the same values
  EXPECT_EQ(writer.stats().rows_written, written);

  InsertRun(kWs1, base + 4 * kMin + 30 * kSec);
  RollupWriter again(Options(), nullptr);  // another process: no state shared
  again.Backfill(*session_, base, base + 10 * kMin);
  EXPECT_EQ(again.stats().rows_written, 1u);
  ExpectTableMatchesRawRows(*db_, base, base + 10 * kMin);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM analytics.execution_metrics_minute"), ids);
}

TEST_F(RollupTest, BackfillWritesTheGivenRangeOnly) {
  const std::int64_t base = RollupWriter::MinuteStart(RealNowUs()) - 120 * kMin;
  aee::testing::InsertFinishedRuns(*db_, 2000, Ts(base), Ts(base + 30 * kMin), 0.3);
  RollupWriter writer(Options(), nullptr);
  writer.Backfill(*session_, base + 10 * kMin, base + 20 * kMin);
  EXPECT_EQ(ExpectTableMatchesRawRows(*db_, base + 10 * kMin, base + 20 * kMin), 20u);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM analytics.execution_metrics_minute WHERE minute < " +
                        Ts(base + 10 * kMin) + " OR minute >= " + Ts(base + 20 * kMin)),
            "0");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM analytics.rollup_progress"), "0");  // a backfill is no progress
  EXPECT_THROW(writer.Backfill(*session_, base + 1, base + kMin), std::invalid_argument);
}

// A run whose transaction was open when a minute was aggregated, with finished_at
// stamped by the database, is counted by the next cycle (the frontier from
// pg_stat_activity), with no sweep.
TEST_F(RollupTest, ALateCommitStampedByTheDatabaseIsReaggregatedAtTheNextCycle) {
  const std::int64_t real = RealNowUs();
  aee::testing::InsertFinishedRuns(*db_, 600, Ts(real - 4 * kMin), Ts(real - kMin), 0.5);
  // A transaction open while the writer reads; its run commits afterwards.
  pqxx::connection late(db_->url());
  pqxx::work tx(late);
  tx.exec("SELECT 1");
  // The writer's clock runs 2 minutes ahead, so the real current minute has ended for it.
  std::int64_t now = real + 2 * kMin;
  RollupWriter writer(Options(), nullptr);
  writer.Cycle(*session_, now);
  ExpectTableMatchesRawRows(*db_, RollupWriter::MinuteStart(real) - 10 * kMin, now);

  tx.exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at, "
          "queue_wait_seconds, runtime_seconds) VALUES (gen_random_uuid(), '" + std::string(kWs1) + "', '" +
          aee::testing::kAgent1 + "', 'failed', now() - interval '9 s', now() - interval '7 s', now(), 2, 7)");
  const std::int64_t late_minute =
      RollupWriter::MinuteStart(std::stoll(tx.exec1("SELECT (extract(epoch FROM now()) * 1000000)::bigint")[0].c_str()));
  tx.commit();
  ASSERT_LT(late_minute, writer.aggregated_to_us());  // its minute was written already
  now += 10 * kSec;
  writer.Cycle(*session_, now);
  EXPECT_LE(writer.stats().last_from_us, late_minute);
  EXPECT_FALSE(writer.stats().last_sweep);
  ExpectTableMatchesRawRows(*db_, RollupWriter::MinuteStart(real) - 10 * kMin, now);

  // With no transaction open any more, the next cycle reads from its last read on:
  // the cost follows what changed, not the lateness window.
  now += 60 * kSec;
  writer.Cycle(*session_, now);
  EXPECT_GT(writer.stats().last_from_us, late_minute);
}

// An application-stamped finished_at (older than any open transaction) is found by
// the sweep of the lateness window, like the runs collector's.
TEST_F(RollupTest, AnApplicationStampedLateCommitIsReaggregatedByTheSweep) {
  const std::int64_t real = RealNowUs();
  aee::testing::InsertFinishedRuns(*db_, 300, Ts(real - 4 * kMin), Ts(real - kMin), 0.9);
  RollupOptions o = Options();
  o.sweep_interval = std::chrono::minutes(1);
  RollupWriter writer(o, nullptr);
  std::int64_t now = real + 2 * kMin;
  writer.Cycle(*session_, now);
  const std::int64_t target = RollupWriter::MinuteStart(real - 3 * kMin) + kMin;
  InsertRun(kWs2, target + 17 * kSec, "completed", "4.5", "12.75");
  const std::string count_sql = "SELECT total_executions FROM analytics.execution_metrics_minute WHERE workspace_id = '" +
                                std::string(kWs2) + "' AND minute = " + Ts(target);
  const std::string before = db_->Scalar(count_sql);
  now += 10 * kSec;
  writer.Cycle(*session_, now);
  EXPECT_EQ(db_->Scalar(count_sql), before);  // the fast path does not re-read minutes ago
  now += 60 * kSec;
  writer.Cycle(*session_, now);
  EXPECT_TRUE(writer.stats().last_sweep);
  EXPECT_EQ(std::stoi(db_->Scalar(count_sql)), std::stoi(before) + 1);
  ExpectTableMatchesRawRows(*db_, target - 5 * kMin, now);
}

// A writer stopped at T1 and started again at T2 writes every minute in between,
// and the late commits into the lateness window before T1, once each.
TEST_F(RollupTest, ARestartResumesWithNoGapAndNoDoubleRow) {
  const std::int64_t real = RealNowUs();
  const std::int64_t t1 = RollupWriter::MinuteStart(real) + 2 * kMin + 30 * kSec;
  aee::testing::InsertFinishedRuns(*db_, 500, Ts(real - 4 * kMin), Ts(real), 0.11);
  {
    RollupWriter first(Options(), nullptr);
    first.Cycle(*session_, t1);
    EXPECT_EQ(first.aggregated_to_us(), RollupWriter::MinuteStart(t1));
  }
  EXPECT_EQ(db_->Scalar("SELECT aggregated_to = " + Ts(RollupWriter::MinuteStart(t1)) + " FROM analytics.rollup_progress"),
            "t");
  // While it was down: runs in the minutes after T1, and a late one before T1.
  aee::testing::InsertFinishedRuns(*db_, 700, Ts(t1), Ts(t1 + 8 * kMin), 0.12);
  InsertRun(kWs1, RollupWriter::MinuteStart(t1) - 2 * kMin + 5 * kSec, "failed", "3", "9");
  const std::int64_t t2 = t1 + 9 * kMin;
  RollupWriter second(Options(), nullptr);
  second.Cycle(*session_, t2);
  const size_t rows = ExpectTableMatchesRawRows(*db_, real - 30 * kMin, t2 + kMin);
  EXPECT_EQ(std::to_string(rows),
            db_->Scalar("SELECT count(DISTINCT (workspace_id, date_trunc('minute', finished_at))) FROM agent_runs"));
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM (SELECT workspace_id, minute FROM analytics.execution_metrics_minute "
                        "GROUP BY 1, 2 HAVING count(*) > 1) d"),
            "0");
  EXPECT_EQ(second.aggregated_to_us(), RollupWriter::MinuteStart(t2 - DailyWindow::kClockSlackUs));
}

// Queue depth and the workspace's live workers, sampled each (injected) second;
// a restart in the middle of a minute adds to that minute's samples.
TEST_F(RollupTest, QueueDepthAndWorkersAreSampledEachSecond) {
  const std::int64_t m0 = RollupWriter::MinuteStart(RealNowUs()) - 10 * kMin;
  for (const char* ws : {kWs1, kWs2}) {
    db_->Exec("INSERT INTO execution_queue (queue_id, workspace_id, priority, status, queued_at) "
              "SELECT gen_random_uuid(), '" + std::string(ws) + "', k, 'dispatched', now() FROM generate_series(0, 9) k");
  }
  // ws1: two live workers; a stale one and a shared-pool one do not count. ws2: offline only.
  db_->Exec("INSERT INTO workers VALUES "
            "('w1', '" + std::string(kWs1) + "', 'busy', 1, 10, 40, NULL, now()), "
            "('w2', '" + std::string(kWs1) + "', 'idle', 1, 30, 60, NULL, now()), "
            "('w3', '" + std::string(kWs1) + "', 'busy', 1, 99, 99, NULL, " + Ts(m0 - 5 * kMin) + "), "
            "('pool', NULL, 'busy', 1, 90, 90, NULL, now()), "
            "('w4', '" + std::string(kWs2) + "', 'offline', 1, 50, 50, NULL, now())");
  const auto set_depth = [&](const char* ws, int depth) {
    db_->Exec("UPDATE execution_queue SET status = CASE WHEN priority < " + std::to_string(depth) +
              " THEN 'queued' ELSE 'dispatched' END WHERE workspace_id = '" + ws + "'");
  };
  InsertRun(kWs1, m0 + 20 * kSec);

  RollupWriter writer(Options(true), nullptr);
  int depth_sum = 0;
  for (int s = 0; s < 60; ++s) {
    set_depth(kWs1, s % 7);
    depth_sum += s % 7;
    set_depth(kWs2, s < 30 ? 3 : 0);
    if (s == 30) db_->Exec("UPDATE workers SET cpu_percent = cpu_percent + 40 WHERE worker_id IN ('w1', 'w2')");
    writer.Sample(*session_, m0 + s * kSec + 500'000);
  }
  writer.Cycle(*session_, m0 + 59 * kSec + 700'000);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM analytics.execution_metrics_minute"), "0");  // the minute is not over
  // Minute m1: 20 samples by this process, then a restart, 40 by the next.
  const std::int64_t m1 = m0 + kMin;
  for (int s = 0; s < 20; ++s) {
    set_depth(kWs1, 9);
    writer.Sample(*session_, m1 + s * kSec + 500'000);
  }
  writer.Cycle(*session_, m1 + 19 * kSec + 600'000);
  writer.Shutdown(*session_);

  const std::string row_sql =
      "SELECT max_queue_depth, avg_queue_depth, avg_cpu_usage, avg_memory_usage, active_workers, total_executions "
      "FROM analytics.execution_metrics_minute WHERE minute = ";
  auto row = db_->Query(row_sql + Ts(m0) + " AND workspace_id = '" + kWs1 + "'");
  ASSERT_EQ(row.size(), 1u);
  char avg[32];
  std::snprintf(avg, sizeof avg, "%.2f", depth_sum / 60.0);
  EXPECT_EQ(row[0][0].as<int>(), 6);
  EXPECT_EQ(std::string(row[0][1].c_str()), avg);
  EXPECT_EQ(std::string(row[0][2].c_str()), "40.00");  // (20 x 30 + 60 x 30) / 60
  EXPECT_EQ(std::string(row[0][3].c_str()), "50.00");
  EXPECT_EQ(row[0][4].as<int>(), 2);
  EXPECT_EQ(row[0][5].as<int>(), 1);
  row = db_->Query(row_sql + Ts(m0) + " AND workspace_id = '" + kWs2 + "'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<int>(), 3);
  EXPECT_EQ(std::string(row[0][1].c_str()), "1.50");
  EXPECT_TRUE(row[0][2].is_null());
  EXPECT_EQ(row[0][4].as<int>(), 0);
  EXPECT_EQ(row[0][5].as<int>(), 0);

  RollupWriter next(Options(true), nullptr);
  for (int s = 20; s < 60; ++s) {
    set_depth(kWs1, 3);
    next.Sample(*session_, m1 + s * kSec + 500'000);
  }
  next.Sample(*session_, m1 + kMin + 500'000);  // the next minute's first sample flushes m1
  next.Cycle(*session_, m1 + kMin + 2 * kSec + 100'000);
  row = db_->Query(row_sql + Ts(m1) + " AND workspace_id = '" + kWs1 + "'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0][0].as<int>(), 9);
  EXPECT_EQ(std::string(row[0][1].c_str()), "5.00");  // (20 x 9 + 40 x 3) / 60
  EXPECT_EQ(db_->Scalar("SELECT samples FROM analytics.rollup_sampled_minutes WHERE minute = " + Ts(m1)), "60");
  // ws2 had nothing in m1: no row.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM analytics.execution_metrics_minute WHERE minute = " + Ts(m1) +
                        " AND workspace_id = '" + kWs2 + "'"),
            "0");

  // A backfill after the samples expired keeps the sampled columns.
  db_->Exec("DELETE FROM analytics.rollup_samples; DELETE FROM analytics.rollup_sampled_minutes");
  RollupWriter backfill(Options(), nullptr);
  backfill.Backfill(*session_, m0, m1 + kMin);
  EXPECT_EQ(db_->Scalar("SELECT avg_queue_depth FROM analytics.execution_metrics_minute WHERE minute = " + Ts(m1) +
                        " AND workspace_id = '" + kWs1 + "'"),
            "5.00");
}

// The platform tables in another schema: the analytics DDL's foreign key follows
// the search_path to that schema's workspaces.
TEST(RollupSchemaTest, PlatformTablesInAnotherSchema) {
  if (TestDb::ServerUrl().empty()) GTEST_SKIP() << "AEE_TEST_DB_URL not set";
  TestDb db("platform");
  db.Exec("SET search_path = platform; " + aee::testing::ReadSourceFile("schema/analytics.sql") + "; RESET search_path");
  EXPECT_EQ(db.Scalar("SELECT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' AND "
                      "conrelid = 'analytics.execution_metrics_minute'::regclass"),
            "platform.workspaces");
  db.Exec(std::string("INSERT INTO platform.workspaces VALUES ('") + kWs1 + "', 'A')");
  const std::int64_t base = RollupWriter::MinuteStart(RealNowUs()) - 30 * kMin;
  db.Exec("INSERT INTO platform.agent_runs (run_id, workspace_id, status, queued_at, started_at, finished_at) "
          "SELECT gen_random_uuid(), '" + std::string(kWs1) + "', 'completed', f - interval '3 s', f - interval '1 s', f "
          "FROM generate_series(" + Ts(base) + ", " + Ts(base + 5 * kMin - 1) + ", interval '7 s') f");
  DbSession session(db.url(), "rollup_test");
  RollupOptions o;
  o.quoted_schema = "\"platform\"";
  o.sampling = false;
  RollupWriter writer(o, nullptr);
  writer.Backfill(session, base, base + 5 * kMin);
  EXPECT_EQ(ExpectTableMatchesRawRows(db, base, base + 5 * kMin, "platform"), 5u);
}

TEST(RollupSchemaTest, AMissingTableIsNamed) {
  if (TestDb::ServerUrl().empty()) GTEST_SKIP() << "AEE_TEST_DB_URL not set";
  TestDb db;
  DbSession session(db.url(), "rollup_test");
  RollupWriter writer(RollupOptions{}, nullptr);
  try {
    writer.Cycle(session, RealNowUs());
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("analytics.execution_metrics_minute does not exist"), std::string::npos)
        << e.what();
  }
}

// --- flags -------------------------------------------------------------------

bool Parse(std::vector<std::string> args, RollupConfig* cfg, std::string* error, const char* env_url = nullptr) {
  return ParseRollupFlags(args, [env_url](const char* name) {
    return std::string(name) == "AGENT_ROLLUP_DB_URL" ? env_url : nullptr;
  }, cfg, error);
}

TEST(RollupFlagsTest, DefaultsAndValues) {
  RollupConfig cfg;
  std::string error;
  ASSERT_TRUE(Parse({}, &cfg, &error)) << error;
  EXPECT_EQ(cfg.interval, std::chrono::seconds(10));
  EXPECT_EQ(cfg.lateness, std::chrono::minutes(5));
  EXPECT_EQ(cfg.sample_interval, std::chrono::seconds(1));
  EXPECT_FALSE(cfg.backfill);
  ASSERT_TRUE(Parse({"--db.schema=platform", "--rollup.lateness", "10m", "--from=2026-11-30T08:15:30Z",
                     "--to=2026-11-30T09:00:01Z"},
                    &cfg, &error, "postgresql://rollup@db/platform"))
      << error;
  EXPECT_EQ(cfg.db_schema, "platform");
  EXPECT_EQ(cfg.lateness, std::chrono::minutes(10));
  EXPECT_TRUE(cfg.backfill);
  std::int64_t from = 0, to = 0;
  ASSERT_TRUE(ParseUtcTime("2026-11-30T08:15Z", &from));
  ASSERT_TRUE(ParseUtcTime("2026-11-30T09:01:00+00:00", &to));
  EXPECT_EQ(cfg.from_us, from);  // down to its minute
  EXPECT_EQ(cfg.to_us, to);      // up to a whole minute
  EXPECT_EQ(cfg.db_url, "postgresql://rollup@db/platform");
  EXPECT_NE(RollupHelpText().find("--rollup.sample-interval=DURATION"), std::string::npos);
}

TEST(RollupFlagsTest, BadInputNamesTheFlag) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--rollup.interval=soon"}, "--rollup.interval: invalid duration \"soon\""},
      {{"--rollup.interval=0"}, "--rollup.interval: must be greater than 0"},
      {{"--rollup.sample-interval=5m"}, "--rollup.sample-interval: want 0 (no sampling) or a duration from 100ms to 1m"},
      {{"--from=2026-11-30"}, "--from: a backfill needs both --from and --to"},
      {{"--from=2026-11-30", "--to=2026-11-29"}, "--to: must be later than --from"},
      {{"--from=2026-02-30", "--to=2026-03-02"}, "--from: invalid time \"2026-02-30\""},
      {{"--to=2026-11-30T25:00Z", "--from=2026-11-30"}, "--to: invalid time"},
      {{"--from=2026-11-30", "--to=2026-12-01", "--once"}, "--once: cannot be combined with --from/--to"},
      {{"--db.schema="}, "--db.schema: must not be empty"},
      {{"--bogus=1"}, "--bogus: unknown flag"},
      {{"--rollup.timeout"}, "--rollup.timeout: missing value"},
      {{"stray"}, "unexpected argument \"stray\""},
      {{"--db.url=x", "--db.url-file=/nonexistent"}, "--db.url-file: cannot be combined with --db.url"},
  };
  for (const auto& [args, want] : cases) {
    RollupConfig cfg;
    std::string error;
    EXPECT_FALSE(Parse(args, &cfg, &error)) << args[0];
    EXPECT_EQ(error.rfind(want, 0), 0u) << "got: " << error;
  }
}

TEST(RollupFlagsTest, AnUnparsableUrlIsRefusedWithoutQuotingThePassword) {
  RollupConfig cfg;
  std::string error;
  EXPECT_FALSE(Parse({}, &cfg, &error, "postgresql://rollup:S3cr%zzetPW@db/platform"));
  EXPECT_EQ(error.rfind("AGENT_ROLLUP_DB_URL: libpq cannot parse", 0), 0u) << error;
  EXPECT_EQ(error.find("S3cr"), std::string::npos) << error;
  EXPECT_FALSE(Parse({"--db.url=postgresql://rollup:S3cr%zzetPW@db/platform"}, &cfg, &error));
  EXPECT_EQ(error.find("S3cr"), std::string::npos) << error;
}

// The unit's credential path (--db.url-file=%d/db-url, docs/deploy.md): the file is read
// trimmed, wins over AGENT_ROLLUP_DB_URL, and its problems name the flag, not the password.
TEST(RollupFlagsTest, DbUrlFileIsReadTrimmedAndWinsOverTheEnvironment) {
  const std::string dir = ::testing::TempDir() + "/rollup_url_file_" + std::to_string(getpid());
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0) << dir;
  const auto write = [&](const std::string& name, const std::string& text) {
    const std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  };
  const std::string good = write("db-url", "  postgresql://agent_rollup:FilePw1@db/platform\n\n");
  RollupConfig cfg;
  std::string error;
  ASSERT_TRUE(Parse({"--db.url-file=" + good}, &cfg, &error, "postgresql://agent_exporter:EnvPw2@db/platform"))
      << error;
  EXPECT_EQ(cfg.db_url, "postgresql://agent_rollup:FilePw1@db/platform");
  EXPECT_FALSE(cfg.db_url_from_flag);  // no process-listing warning for a file
  ASSERT_TRUE(Parse({}, &cfg, &error, "postgresql://agent_rollup:EnvPw2@db/platform")) << error;
  EXPECT_EQ(cfg.db_url, "postgresql://agent_rollup:EnvPw2@db/platform");

  const std::string empty = write("empty", " \n");
  EXPECT_FALSE(Parse({"--db.url-file", empty}, &cfg, &error));
  EXPECT_EQ(error, "--db.url-file: file \"" + empty + "\" is empty");
  EXPECT_FALSE(Parse({"--db.url-file=" + dir + "/missing"}, &cfg, &error));
  EXPECT_EQ(error.rfind("--db.url-file: cannot read \"" + dir + "/missing\"", 0), 0u) << error;
  EXPECT_FALSE(Parse({"--db.url-file="}, &cfg, &error));
  EXPECT_EQ(error.rfind("--db.url-file: must not be empty", 0), 0u) << error;
  const std::string bad = write("bad", "postgresql://agent_rollup:S3cr%zzetPW@db/platform\n");
  EXPECT_FALSE(Parse({"--db.url-file=" + bad}, &cfg, &error));
  EXPECT_EQ(error.rfind("--db.url-file: file \"" + bad + "\": libpq cannot parse", 0), 0u) << error;
  EXPECT_EQ(error.find("S3cr"), std::string::npos) << error;
  for (const char* name : {"db-url", "empty", "bad"}) std::remove((dir + "/" + name).c_str());
  rmdir(dir.c_str());
}

// --- the binary ----------------------------------------------------------------

struct BinaryRun {
  int code = -1;
  std::string output;
};

BinaryRun RunBinary(const std::string& args) {
  BinaryRun run;
  FILE* p = popen((std::string(AEE_ROLLUP_BIN) + " " + args + " 2>&1").c_str(), "r");
  if (p == nullptr) return run;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) run.output.append(buf, n);
  const int status = pclose(p);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(RollupBinaryTest, HelpBadFlagsAndOneRun) {
  BinaryRun help = RunBinary("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("--from=TIME"), std::string::npos);
  BinaryRun bad = RunBinary("--rollup.lateness=later");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.output.find("agent_execution_rollup: --rollup.lateness: invalid duration"), std::string::npos)
      << bad.output;
  BinaryRun bad_url = RunBinary("--db.url='postgresql://u:Pw%zz9secret@h/db'");
  EXPECT_EQ(bad_url.code, 2);
  EXPECT_EQ(bad_url.output.find("Pw%zz9secret"), std::string::npos) << bad_url.output;

  if (TestDb::ServerUrl().empty()) GTEST_SKIP() << "AEE_TEST_DB_URL not set";
  TestDb db;
  aee::testing::InsertWorkspacesAndAgents(db);
  const std::int64_t base = RollupWriter::MinuteStart(RealNowUs()) - 3 * kMin;
  aee::testing::InsertFinishedRuns(db, 200, Ts(base), Ts(base + 2 * kMin), 0.2);
  // The password in the URL (trust auth ignores it) must never be printed.
  std::string url = db.url();
  url.replace(url.find("postgres@"), 9, "postgres:Hunter2secret@");
  BinaryRun once = RunBinary("--db.url='" + url + "' --init-schema --once --log.level=debug");
  EXPECT_EQ(once.code, 0) << once.output;
  EXPECT_EQ(once.output.find("Hunter2secret"), std::string::npos) << once.output;
  EXPECT_NE(once.output.find("aggregated"), std::string::npos) << once.output;
  ExpectTableMatchesRawRows(db, base - 10 * kMin, base + 3 * kMin);
  BinaryRun backfill = RunBinary("--db.url='" + db.url() + "' --from=2020-01-01 --to=2020-01-01T00:05Z");
  EXPECT_EQ(backfill.code, 0) << backfill.output;
  EXPECT_NE(backfill.output.find("minutes=5"), std::string::npos) << backfill.output;
}

}  // namespace
}  // namespace aee::rollup
