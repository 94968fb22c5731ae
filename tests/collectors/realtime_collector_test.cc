// Integration tests of the realtime collector against a real PostgreSQL.
#include "collectors/realtime_collector.h"

#include <gtest/gtest.h>

#include "core/db.h"
#include "exporter/config.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::seconds;
using testing::At;
using testing::kAgent1;
using testing::kAgent2;
using testing::kAgent3;
using testing::kNoon;
using testing::kWs1;
using testing::kWs2;
using testing::SeriesCount;
using testing::Value;

class RealtimeCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::InsertWorkspacesAndAgents(db_); }
  Snapshot Collect(int top_runs = 10) {
    RealtimeCollectorOptions opts;
    opts.top_runs = top_runs;
    RealtimeCollector c(testing::Ctx(clock_), opts);
    DbSession s(db_.url(), "test");
    return c.Collect(s);
  }
  void Running(const char* ws, const char* agent, const std::string& started, const char* id) {
    db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at) VALUES ('") +
             id + "', '" + ws + "', '" + agent + "', 'running', " + started + ", " + started + ")");
  }
  void Queued(const char* ws, const std::string& queued_at, const char* status = "queued") {
    db_.Exec(std::string("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, priority, status, queued_at) VALUES "
                         "(gen_random_uuid(), '") + ws + "', '" + kAgent1 + "', 1, '" + status + "', " + queued_at + ")");
  }
  testing::TestDb db_;
  FakeClock clock_{kNoon};
};

TEST_F(RealtimeCollectorTest, IdleWorkspacesReportZero) {
  auto snap = Collect();
  for (const char* ws : {kWs1, kWs2}) {
    EXPECT_EQ(Value(snap, "agent_runs_running", {{"workspace_id", ws}}), 0);
    EXPECT_EQ(Value(snap, "agent_queue_depth", {{"workspace_id", ws}}), 0);
    EXPECT_EQ(Value(snap, "agent_queue_wait_seconds_avg", {{"workspace_id", ws}}), 0);
    EXPECT_EQ(Value(snap, "agent_queue_oldest_age_seconds", {{"workspace_id", ws}}), 0);
  }
  EXPECT_EQ(SeriesCount(snap, "agent_run_elapsed_seconds"), 0u);
}

TEST_F(RealtimeCollectorTest, CountsRunningAndQueuedExactly) {
  Running(kWs1, kAgent1, At("-100 seconds"), "00000000-0000-0000-0000-000000000001");
  Running(kWs1, kAgent2, At("-10 seconds"), "00000000-0000-0000-0000-000000000002");
  Running(kWs2, kAgent3, At("-1 second"), "00000000-0000-0000-0000-000000000003");
  db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, finished_at) VALUES "
                       "(gen_random_uuid(), '") + kWs1 + "', '" + kAgent1 + "', 'completed', " + At("-1 second") + ")");
  Queued(kWs1, At("-30 seconds"));
  Queued(kWs1, At("-10 seconds"));
  Queued(kWs1, At("-5 seconds"), "dispatched");  // not waiting
  Queued(kWs2, At("5 seconds"));                 // clock skew: age clamps at 0
  auto snap = Collect();
  EXPECT_EQ(Value(snap, "agent_runs_running", {{"workspace_id", kWs1}}), 2);
  EXPECT_EQ(Value(snap, "agent_runs_running", {{"workspace_id", kWs2}}), 1);
  EXPECT_EQ(Value(snap, "agent_queue_depth", {{"workspace_id", kWs1}}), 2);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_queue_wait_seconds_avg", {{"workspace_id", kWs1}}), 20);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_queue_oldest_age_seconds", {{"workspace_id", kWs1}}), 30);
  EXPECT_EQ(Value(snap, "agent_queue_depth", {{"workspace_id", kWs2}}), 1);
  EXPECT_EQ(Value(snap, "agent_queue_oldest_age_seconds", {{"workspace_id", kWs2}}), 0);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_run_elapsed_seconds",
                         {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"run_id", "00000000-0000-0000-0000-000000000001"}}),
                   100);
}

// The collector's statement is prepared once per connection: one session keeps
// seeing new rows past PostgreSQL's switch to a generic plan (after 5 executions),
// and after a reconnect.
TEST_F(RealtimeCollectorTest, APreparedSessionSeesEveryChangeAndSurvivesAReconnect) {
  CollectorContext ctx = testing::Ctx(clock_);
  RealtimeCollector c(ctx, RealtimeCollectorOptions{});
  DbSession s(db_.url(), "test");
  for (int i = 1; i <= 8; ++i) {
    Running(kWs1, kAgent1, At("-" + std::to_string(i) + " seconds"),
            ("00000000-0000-0000-0000-0000000000" + std::to_string(10 + i)).c_str());
    if (i == 6) s.Reset();
    auto snap = c.Collect(s);
    EXPECT_EQ(Value(snap, "agent_runs_running", {{"workspace_id", kWs1}}), i);
    EXPECT_EQ(SeriesCount(snap, "agent_run_elapsed_seconds"), static_cast<size_t>(i));
  }
}

// DbSession::Prepare: a name defined before the first connection, redefined with
// other SQL on the live connection, kept across a reconnect.
TEST_F(RealtimeCollectorTest, SessionPrepareDefinesAndRedefinesAStatementOnEveryConnection) {
  DbSession s(db_.url(), "test");
  auto run = [&] {
    pqxx::nontransaction tx(s.Get());
    return tx.exec_prepared("q")[0][0].as<int>();
  };
  s.Prepare("q", "SELECT 1");
  EXPECT_EQ(run(), 1);
  s.Prepare("q", "SELECT 2");
  EXPECT_EQ(run(), 2);
  s.Prepare("q", "SELECT 2");  // the same SQL again: nothing to redo
  EXPECT_EQ(run(), 2);
  s.Reset();
  EXPECT_EQ(run(), 2);
}

TEST_F(RealtimeCollectorTest, TopRunsKeepsTheLongestPerWorkspaceAndCanBeOff) {
  for (int i = 0; i < 5; ++i) {
    std::string id = "00000000-0000-0000-0000-00000000000" + std::to_string(i);
    Running(kWs1, kAgent1, At("-" + std::to_string(10 * (i + 1)) + " seconds"), id.c_str());
  }
  Running(kWs2, kAgent3, At("-1 second"), "00000000-0000-0000-0000-000000000009");
  auto snap = Collect(2);
  EXPECT_EQ(SeriesCount(snap, "agent_run_elapsed_seconds"), 3u);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_run_elapsed_seconds",
                         {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"run_id", "00000000-0000-0000-0000-000000000004"}}),
                   50);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_run_elapsed_seconds",
                         {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"run_id", "00000000-0000-0000-0000-000000000003"}}),
                   40);
  EXPECT_EQ(SeriesCount(Collect(0), "agent_run_elapsed_seconds"), 0u);
}

TEST_F(RealtimeCollectorTest, InfiniteTimestampsAreCountedButAgeNothing) {
  Running(kWs1, kAgent1, "'infinity'", "00000000-0000-0000-0000-00000000000a");
  Running(kWs1, kAgent1, "'-infinity'", "00000000-0000-0000-0000-00000000000b");
  db_.Exec("UPDATE agent_runs SET estimated_runtime = 10");
  Queued(kWs1, "'-infinity'");
  Queued(kWs1, At("-30 seconds"));
  auto snap = Collect();
  EXPECT_EQ(Value(snap, "agent_runs_running", {{"workspace_id", kWs1}}), 2);
  EXPECT_EQ(Value(snap, "agent_queue_depth", {{"workspace_id", kWs1}}), 2);
  EXPECT_EQ(Value(snap, "agent_queue_oldest_age_seconds", {{"workspace_id", kWs1}}), 30);  // the finite one
}

TEST_F(RealtimeCollectorTest, OverdueRunsCountAgainstTheirEstimate) {
  // estimated_runtime 10 s: overdue past 30 s with the default factor 3.
  db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, estimated_runtime) VALUES "
                       "('00000000-0000-0000-0000-000000000001', '") + kWs1 + "', '" + kAgent1 + "', 'running', " + At("-100 seconds") + ", " + At("-100 seconds") + ", 10),"
           "('00000000-0000-0000-0000-000000000002', '" + kWs1 + "', '" + kAgent1 + "', 'running', " + At("-29 seconds") + ", " + At("-29 seconds") + ", 10),"
           "('00000000-0000-0000-0000-000000000003', '" + kWs1 + "', '" + kAgent1 + "', 'running', " + At("-999 seconds") + ", " + At("-999 seconds") + ", NULL)");
  auto snap = Collect();
  EXPECT_EQ(Value(snap, "agent_runs_overdue", {{"workspace_id", kWs1}}), 1);
  EXPECT_EQ(Value(snap, "agent_runs_overdue", {{"workspace_id", kWs2}}), 0);
  EXPECT_EQ(Value(snap, "agent_run_estimated_runtime_seconds",
                  {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"run_id", "00000000-0000-0000-0000-000000000001"}}),
            10);
  // No estimate, no estimate series (and never overdue).
  EXPECT_FALSE(testing::Find(snap, "agent_run_estimated_runtime_seconds",
                             {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"run_id", "00000000-0000-0000-0000-000000000003"}}));
}

TEST_F(RealtimeCollectorTest, DeletedWorkspaceSeriesGoAway) {
  Running(kWs2, kAgent3, At("-1 second"), "00000000-0000-0000-0000-000000000009");
  EXPECT_EQ(SeriesCount(Collect(), "agent_runs_running"), 2u);
  db_.Exec(std::string("DELETE FROM workspaces WHERE id = '") + kWs2 + "'");
  auto snap = Collect();
  EXPECT_EQ(SeriesCount(snap, "agent_runs_running"), 1u);
  EXPECT_FALSE(testing::Find(snap, "agent_queue_depth", {{"workspace_id", kWs2}}));
  EXPECT_EQ(SeriesCount(snap, "agent_run_elapsed_seconds"), 0u);
}

TEST_F(RealtimeCollectorTest, MissingTableFailsWithAClearError) {
  db_.Exec("DROP TABLE execution_queue");
  try {
    Collect();
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("execution_queue"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aee

namespace aee {
namespace {

// The realtime statement runs outside an explicit transaction; the session itself
// refuses writes, as every collector's does.
TEST_F(RealtimeCollectorTest, SessionsRefuseWrites) {
  DbSession s(db_.url(), "test");
  pqxx::nontransaction tx(s.Get(std::chrono::milliseconds(1000)));
  try {
    tx.exec("DELETE FROM agent_runs");
    FAIL() << "a write went through";
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("read-only transaction"), std::string::npos) << e.what();
  }
}

// A blocked query ends at the collector's statement timeout instead of hanging the
// cycle, and the session announces itself through application_name.
TEST_F(RealtimeCollectorTest, StatementTimeoutEndsABlockedCycle) {
  pqxx::connection locker(db_.url());
  pqxx::work lock(locker);
  lock.exec("LOCK TABLE agent_runs IN ACCESS EXCLUSIVE MODE");
  CollectorContext ctx = testing::Ctx(clock_);
  ctx.timeout = std::chrono::milliseconds(300);
  RealtimeCollector c(ctx, RealtimeCollectorOptions{});
  DbSession s(db_.url(), "agent_execution_exporter/realtime");
  const auto start = std::chrono::steady_clock::now();
  try {
    c.Collect(s);
    FAIL() << "expected a statement timeout";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("statement timeout"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(db_.Scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'agent_execution_exporter/realtime'"), "1");
  // The timeout is a session setting: the session the scheduler reconnects after an
  // error sets it again.
  s.Reset();
  EXPECT_THROW(c.Collect(s), pqxx::sql_error);
  EXPECT_EQ(pqxx::nontransaction(s.Get()).exec1("SHOW statement_timeout")[0].as<std::string>(), "300ms");
}

}  // namespace
}  // namespace aee
