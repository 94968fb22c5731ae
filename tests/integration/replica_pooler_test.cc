// Between the exporter and the primary (issue #16): a streaming hot standby made by
// pg_basebackup (scripts/pg_standby.sh) and PgBouncer in transaction pooling mode
// (scripts/pgbouncer.sh), both started by ctest's fixtures in front of the test
// PostgreSQL. Counts are compared with SQL on the primary.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "collectors/runs_collector.h"
#include "core/db.h"
#include "exporter/app.h"
#include "exporter/config.h"
#include "tests/support/http_client.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::kAgent1;
using testing::kWs1;

// The collectors' UTC day on the database's clock, as SQL expressions.
const std::string kToday = "(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')";
const std::string kTomorrow = "(" + kToday + " + interval '1 day')";

std::string EnvUrl(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// The test database db, with the fixtures' workspaces and agents, reached through the
// server the environment variable env names (ctest sets it); "" and a failure when unset.
std::string FixtureDatabaseUrl(const char* env, testing::TestDb& db) {
  const std::string server = EnvUrl(env);
  if (server.empty()) {
    ADD_FAILURE() << env << " is not set (run the tests through ctest)";
    return "";
  }
  testing::InsertWorkspacesAndAgents(db);
  return testing::TestDb::WithDatabase(server, db.name());
}

std::string InsertRun(const char* status, const std::string& finished_at) {
  return std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, "
                     "finished_at) VALUES (gen_random_uuid(), '") +
         kWs1 + "', '" + kAgent1 + "', '" + status + "', " + finished_at + " - interval '3 s', " + finished_at +
         " - interval '2 s', " + finished_at + ")";
}

template <typename Pred>
bool Within(milliseconds limit, Pred pred) {
  const auto start = steady_clock::now();
  while (steady_clock::now() - start < limit) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

std::unique_ptr<Exporter> MakeExporter(std::vector<std::string> flags, const std::string& url, const Clock& clock,
                                       Logger& logger) {
  Config cfg;
  std::string err;
  flags.insert(flags.begin(), "--web.listen-address=127.0.0.1:0");
  EXPECT_TRUE(ParseFlags(flags, [](const char*) -> const char* { return nullptr; }, &cfg, &err)) << err;
  cfg.db_url = url;
  auto e = std::make_unique<Exporter>(cfg, clock, logger);
  e->scheduler().KeepSnapshots(true);
  return e;
}

// Runs one cycle of the named collector.
bool RunCollector(Exporter& e, const std::string& name) {
  const auto status = e.scheduler().Status();
  for (size_t i = 0; i < status.size(); ++i) {
    if (status[i].name == name) return e.scheduler().RunOnce(i);
  }
  ADD_FAILURE() << "no collector " << name;
  return false;
}

// ---------------------------------------------------------------------------------
// Hot standby.

class StandbyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = FixtureDatabaseUrl("AEE_TEST_STANDBY_URL", db_);
    ASSERT_FALSE(url_.empty());
    standby_admin_ = std::make_unique<pqxx::connection>(EnvUrl("AEE_TEST_STANDBY_URL"));
    WaitReplayed();
  }
  void TearDown() override {
    if (standby_admin_) Standby("SELECT pg_wal_replay_resume()");  // whatever the test did
  }
  std::string Standby(const std::string& sql) {
    pqxx::nontransaction tx(*standby_admin_);
    pqxx::result r = tx.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].as<std::string>();
  }
  // Waits until the standby replayed everything the primary wrote so far (the
  // insert position: with synchronous_commit off a commit may not be written yet).
  void WaitReplayed() {
    const std::string lsn = db_.Scalar("SELECT pg_current_wal_insert_lsn()::text");
    // A minute: the suite writes about a gigabyte of WAL, and under the sanitizer
    // build on two loaded cores the standby's replay can trail by tens of seconds.
    ASSERT_TRUE(Within(seconds(60), [&] {
      return Standby("SELECT pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn") == "t";
    })) << "the standby did not replay up to " << lsn << ": "
        << Standby("SELECT format('receiver %s, received %s, replayed %s, replay paused %s', "
                   "coalesce((SELECT status FROM pg_stat_wal_receiver), 'not running'), "
                   "pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), pg_is_wal_replay_paused())");
  }
  // Waits until the standby received WAL it has not replayed (replay paused).
  void WaitReceivedNotReplayed() {
    ASSERT_TRUE(Within(seconds(20), [&] {
      return Standby("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()") == "t";
    }));
  }

  testing::TestDb db_;
  std::unique_ptr<pqxx::connection> standby_admin_;
  std::string url_;  // the test database on the standby
};

// The late commit of DESIGN.md's rule 1, on a standby: a transaction opens before
// others, writes its run (finished_at = now(), its start) after they committed and
// commits after the exporter has read past that timestamp. pg_stat_activity on the
// standby shows none of the primary's transactions, and the run's xid is newer than
// the runs it trails, so neither can hold the frontier back; the replay-anchored
// lateness window does. The sweep is off: only the frontier can count it.
TEST_F(StandbyTest, LateCommitOnThePrimaryIsCountedExactlyOnceOnTheStandby) {
  testing::InsertFinishedRuns(db_, 300, "greatest(" + kToday + ", now() - interval '10 minutes')",
                              "greatest(" + kToday + ", now() - interval '1 minute')", 0.61);
  WaitReplayed();
  SystemClock clock;
  RunsCollectorOptions opts;
  opts.sweep_interval = milliseconds(0);
  CollectorContext ctx = testing::Ctx(clock);
  double lag_told = -2;
  ctx.on_replay_lag = [&](double lag) { lag_told = lag; };
  RunsCollector c(ctx, opts);
  DbSession s(url_, "test");
  Snapshot snap = c.Collect(s);
  testing::ExpectRunsMatchSql(db_, snap, kToday, kTomorrow);
  EXPECT_GE(lag_told, 0);  // a standby: the lag is known

  pqxx::connection writer(db_.url());
  pqxx::work late(writer);
  late.exec("SELECT 1");  // open: now() is fixed from here
  for (int i = 0; i < 3; ++i) {
    db_.Exec(InsertRun("completed", "clock_timestamp()"));
    std::this_thread::sleep_for(milliseconds(1100));  // past the 2 s clock slack in total
    WaitReplayed();
    snap = c.Collect(s);
  }
  late.exec(InsertRun("failed", "now()"));  // stamped at the transaction's start, 3.3 s ago
  late.commit();
  WaitReplayed();
  snap = c.Collect(s);
  testing::ExpectRunsMatchSql(db_, snap, kToday, kTomorrow);
  const testing::Labels failed{{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "failed"}};
  const double failed_sql = std::stod(db_.Scalar(
      "SELECT count(*) FROM agent_runs WHERE status = 'failed' AND agent_id = '" + std::string(kAgent1) +
      "' AND finished_at >= " + kToday));
  EXPECT_EQ(testing::Value(snap, "agent_runs_finished_total", failed), failed_sql);
  snap = c.Collect(s);  // and once only
  EXPECT_EQ(testing::Value(snap, "agent_runs_finished_total", failed), failed_sql);
  EXPECT_GE(testing::Value(snap, "agent_exporter_db_replay_lag_seconds", {}), 0);
  EXPECT_EQ(testing::Value(snap, "agent_exporter_rows_read_total", {{"collector", "runs"}, {"scan", "sweep"}}), 0);
}

// Replay paused on the standby (as when it lags far behind): the exporter reads an
// old view while its own clock runs on. With a 3 s lateness, a frontier measured on
// the exporter's clock would pass the runs committed meanwhile before they become
// visible; measured from the replay point, nothing is lost. The lag shows and, with
// --db.max-replay-lag, /readyz says not ready until the standby catches up.
TEST_F(StandbyTest, WhileReplayIsPausedNothingIsLostAndReadinessFollowsTheLag) {
  testing::InsertFinishedRuns(db_, 200, "greatest(" + kToday + ", now() - interval '10 minutes')",
                              "greatest(" + kToday + ", now() - interval '1 minute')", 0.62);
  WaitReplayed();
  SystemClock clock;
  Logger logger(LogLevel::kInfo, LogFormat::kLogfmt);
  std::string log;
  logger.SetSinkForTest(&log);
  auto e = MakeExporter({"--no-collector.realtime", "--no-collector.info", "--no-collector.workers",
                         "--no-collector.models", "--no-collector.database", "--no-collector.patterns",
                         "--collector.runs.lateness=3s", "--collector.runs.sweep-interval=0",
                         "--db.max-replay-lag=1s"},
                        url_, clock, logger);
  std::string err;
  ASSERT_TRUE(e->Start(&err, /*start_collectors=*/false)) << err;
  ASSERT_TRUE(RunCollector(*e, "runs")) << log;
  testing::HttpResult ready = testing::HttpGet(e->port(), "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(ready.body.find("\"replica\":{\"state\":\"up\""), std::string::npos) << ready.body;

  Standby("SELECT pg_wal_replay_pause()");
  pqxx::connection writer(db_.url());
  pqxx::work late(writer);
  late.exec("SELECT 1");
  db_.Exec(InsertRun("completed", "now()") + "; " + InsertRun("cancelled", "now()"));
  std::this_thread::sleep_for(milliseconds(1000));
  late.exec(InsertRun("failed", "now()"));  // 1 s late: inside the 3 s lateness
  late.commit();
  db_.Exec(InsertRun("completed", "now()"));
  WaitReceivedNotReplayed();
  // The exporter's clock runs 6 s past the paused view: beyond lateness + slack.
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(milliseconds(1500));
    ASSERT_TRUE(RunCollector(*e, "runs")) << log;
  }
  const double lag = testing::Value(e->scheduler().Gather(), "agent_exporter_db_replay_lag_seconds", {});
  EXPECT_GT(lag, 1) << "replay paused for 6 s";
  ready = testing::HttpGet(e->port(), "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find("\"state\":\"lagging\""), std::string::npos) << ready.body;

  Standby("SELECT pg_wal_replay_resume()");
  WaitReplayed();
  ASSERT_TRUE(RunCollector(*e, "runs")) << log;
  testing::ExpectRunsMatchSql(db_, e->scheduler().Gather(), kToday, kTomorrow);
  // Caught up, ready again. WAL the primary writes meanwhile (autovacuum, checkpoints)
  // can be received but not yet replayed when a cycle reads the lag, which is then the
  // age of the last replayed commit (one CI run: 2.7 s): ready once a cycle finds the
  // standby caught up, within 30 s.
  for (int i = 0; i < 60; ++i) {
    ready = testing::HttpGet(e->port(), "/readyz");
    if (ready.status == 200) break;
    std::this_thread::sleep_for(milliseconds(500));
    ASSERT_TRUE(RunCollector(*e, "runs")) << log;
  }
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_NE(log.find("reading a hot standby"), std::string::npos) << log;
}

// On a primary the lag family is present but empty, and /readyz has no replica part.
TEST(PrimaryReplicaStateTest, OnAPrimaryThereIsNoReplayLag) {
  testing::TestDb db;
  testing::InsertWorkspacesAndAgents(db);
  SystemClock clock;
  Logger logger(LogLevel::kInfo, LogFormat::kLogfmt);
  std::string log;
  logger.SetSinkForTest(&log);
  auto e = MakeExporter({"--no-collector.realtime", "--no-collector.info", "--no-collector.workers",
                         "--no-collector.models", "--no-collector.database", "--no-collector.patterns",
                         "--db.max-replay-lag=1s"},
                        db.url(), clock, logger);
  std::string err;
  ASSERT_TRUE(e->Start(&err, /*start_collectors=*/false)) << err;
  ASSERT_TRUE(RunCollector(*e, "runs")) << log;
  EXPECT_EQ(testing::SeriesCount(e->scheduler().Gather(), "agent_exporter_db_replay_lag_seconds"), 0u);
  testing::HttpResult ready = testing::HttpGet(e->port(), "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.body.find("replica"), std::string::npos) << ready.body;
}

// ---------------------------------------------------------------------------------
// PgBouncer, pool_mode = transaction, default_pool_size = 2.

class PoolerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = FixtureDatabaseUrl("AEE_TEST_PGBOUNCER_URL", db_);
    ASSERT_FALSE(url_.empty());
    logger_.SetSinkForTest(&log_);
  }
  // What each of the pool's two server connections holds: two clients in a
  // transaction at once get both. "jit,read_only,prepared" per connection.
  std::vector<std::string> ServerSessionStates() {
    pqxx::connection a(url_), b(url_);
    pqxx::work ta(a), tb(b);
    std::vector<std::string> out;
    for (pqxx::work* t : {&ta, &tb}) {
      pqxx::row r = t->exec1(
          "SELECT current_setting('jit'), current_setting('default_transaction_read_only'), "
          "(SELECT count(*) FROM pg_prepared_statements), pg_backend_pid()");
      out.push_back(r[0].as<std::string>() + "," + r[1].as<std::string>() + "," + r[2].as<std::string>());
    }
    return out;
  }
  void InsertLiveRows() {
    testing::InsertFinishedRuns(db_, 300, "greatest(" + kToday + ", now() - interval '10 minutes')",
                                "greatest(" + kToday + ", now() - interval '1 minute')", 0.63);
    db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at) "
                         "SELECT gen_random_uuid(), '") +
             kWs1 + "', '" + kAgent1 + "', 'running', now() - interval '30 s', now() - interval '20 s' " +
             "FROM generate_series(1, 4)");
    db_.Exec(std::string("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, status, queued_at) "
                         "SELECT gen_random_uuid(), '") +
             kWs1 + "', '" + kAgent1 + "', 'queued', now() - interval '5 s' FROM generate_series(1, 3)");
  }

  testing::TestDb db_;
  std::string url_;  // the test database through PgBouncer
  SystemClock clock_;
  Logger logger_{LogLevel::kInfo, LogFormat::kLogfmt};
  std::string log_;
};

// Every collector, twice (start-up, then incremental reads and the realtime
// statement again), through two pooled server connections shared by seven
// sessions: every cycle succeeds, the figures equal SQL, and no session setting or
// prepared statement is left on a server connection for the next client.
TEST_F(PoolerTest, FullCyclesThroughPgBouncerInTransactionModeAreExact) {
  InsertLiveRows();
  auto e = MakeExporter({"--db.pooler=transaction"}, url_, clock_, logger_);
  std::string err;
  ASSERT_TRUE(e->Start(&err, /*start_collectors=*/false)) << err;
  for (int round = 0; round < 2; ++round) {
    for (size_t i = 0; i < e->scheduler().size(); ++i) {
      EXPECT_TRUE(e->scheduler().RunOnce(i)) << e->scheduler().Status()[i].name << ": " << log_;
    }
    if (round == 0) db_.Exec(InsertRun("completed", "now()") + "; " + InsertRun("failed", "now()"));
  }
  const auto families = e->scheduler().Gather();
  testing::ExpectRunsMatchSql(db_, families, kToday, kTomorrow);
  EXPECT_EQ(testing::Value(families, "agent_runs_running", {{"workspace_id", kWs1}}), 4);
  EXPECT_EQ(testing::Value(families, "agent_queue_depth", {{"workspace_id", kWs1}}), 3);
  for (const std::string& state : ServerSessionStates()) EXPECT_EQ(state, "on,off,0");
}

// Why the flag exists: the same exporter without it leaves its session settings on
// the pooled server connections, where other clients of the pool inherit them.
TEST_F(PoolerTest, WithoutThePoolerFlagSessionSettingsLeakToOtherClients) {
  InsertLiveRows();
  auto e = MakeExporter({"--no-collector.patterns"}, url_, clock_, logger_);
  std::string err;
  ASSERT_TRUE(e->Start(&err, /*start_collectors=*/false)) << err;
  for (size_t i = 0; i < e->scheduler().size(); ++i) e->scheduler().RunOnce(i);
  bool leaked = false;
  for (const std::string& state : ServerSessionStates()) leaked = leaked || state != "on,off,0";
  EXPECT_TRUE(leaked) << "expected the exporter's SET jit / default_transaction_read_only on a pooled connection";
}

// LISTEN does not survive transaction pooling: with --db.notify-url it goes to a
// direct connection, and a change wakes the collectors at once (their interval is
// an hour here) while they keep reading through PgBouncer.
TEST_F(PoolerTest, NotifyWakeupsComeThroughTheDirectNotifyUrl) {
  db_.Exec(testing::ReadSourceFile("schema/notify.sql"));
  auto e = MakeExporter({"--db.pooler=transaction", "--db.notify-url=" + db_.url(),
                         "--db.notify-channel=agent_execution_events", "--collector.realtime.interval=1h",
                         "--collector.runs.interval=1h", "--no-collector.info", "--no-collector.workers",
                         "--no-collector.models", "--no-collector.database", "--no-collector.patterns"},
                        url_, clock_, logger_);
  std::string err;
  ASSERT_TRUE(e->Start(&err)) << err;
  ASSERT_TRUE(Within(seconds(10), [&] {
    const auto status = e->scheduler().Status();
    return e->MetricsText().find("agent_exporter_notify_listener_up 1") != std::string::npos &&
           status[0].ever_succeeded && status[1].ever_succeeded;
  })) << log_;
  db_.Exec(std::string("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, status, queued_at) VALUES "
                       "(gen_random_uuid(), '") +
           kWs1 + "', '" + kAgent1 + "', 'queued', now())");
  EXPECT_TRUE(Within(seconds(10), [&] {
    auto f = testing::Find(e->scheduler().Gather(), "agent_queue_depth", {{"workspace_id", kWs1}});
    return f && f->gauge.value == 1;
  })) << "a queued row never showed up: " << log_;
  db_.Exec(InsertRun("completed", "now()"));
  EXPECT_TRUE(Within(seconds(10), [&] {
    auto f = testing::Find(e->scheduler().Gather(), "agent_runs_finished_total",
                           {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "completed"}});
    return f && f->counter.value == 1;
  })) << "a finished run never showed up: " << log_;
  // The listener is the only session on the primary directly; the collectors' go
  // through PgBouncer (whose server connections have no application_name of ours
  // at startup, but carry it while a collector's transaction runs).
  EXPECT_EQ(db_.Scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                       "'agent_execution_exporter/listen'"),
            "1");
  e->Stop();
}

// Behind a transaction pooler without --db.notify-url, LISTEN is off (it would be
// registered on a pooled connection): the exporter says so and polls.
TEST_F(PoolerTest, WithoutANotifyUrlBehindAPoolerTheExporterPolls) {
  auto e = MakeExporter({"--db.pooler=transaction", "--db.notify-channel=agent_execution_events"}, url_, clock_,
                        logger_);
  EXPECT_NE(log_.find("needs --db.notify-url"), std::string::npos) << log_;
  EXPECT_EQ(e->MetricsText().find("agent_exporter_notify_listener_up"), std::string::npos);
}

TEST(PoolerFlagsTest, FlagsAreCheckedAndNamed) {
  auto parse = [](std::vector<std::string> args, Config* cfg, std::string* err) {
    return ParseFlags(args, [](const char*) -> const char* { return nullptr; }, cfg, err);
  };
  Config cfg;
  std::string err;
  EXPECT_FALSE(parse({"--db.pooler=statement"}, &cfg, &err));
  EXPECT_EQ(err, "--db.pooler: want none, session or transaction, got \"statement\"");
  EXPECT_FALSE(parse({"--db.max-replay-lag=soon"}, &cfg, &err));
  EXPECT_EQ(err.rfind("--db.max-replay-lag: invalid duration", 0), 0u) << err;
  EXPECT_FALSE(parse({"--db.notify-url=postgresql://u:s3cret@h/%zz"}, &cfg, &err));
  EXPECT_EQ(err.rfind("--db.notify-url: libpq cannot parse", 0), 0u) << err;
  EXPECT_EQ(err.find("s3cret"), std::string::npos) << err;
  Config ok;
  ASSERT_TRUE(parse({"--db.pooler=transaction", "--db.max-replay-lag=30s", "--db.notify-url=host=primary"}, &ok, &err))
      << err;
  EXPECT_EQ(ok.db_pooler, DbPooler::kTransaction);
  EXPECT_EQ(ok.db_max_replay_lag, seconds(30));
  EXPECT_EQ(ok.db_notify_url, "host=primary");
  Config env;
  ASSERT_TRUE(ParseFlags({}, [](const char* name) -> const char* {
    return std::string_view(name) == "AGENT_EXPORTER_DB_NOTIFY_URL" ? "host=direct" : nullptr;
  }, &env, &err)) << err;
  EXPECT_EQ(env.db_notify_url, "host=direct");
  EXPECT_EQ(env.db_pooler, DbPooler::kNone);
}

}  // namespace
}  // namespace aee
