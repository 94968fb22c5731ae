// Fault tests with a PostgreSQL cluster of their own (started, crashed and
// restarted here), so the shared test server stays untouched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "collectors/runs_collector.h"
#include "exporter/app.h"
#include "exporter/config.h"
#include "exporter/db.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::seconds;

class PrivateCluster {
 public:
  PrivateCluster() {
    port_ = 56000 + static_cast<int>(getpid() % 2000);
    dir_ = std::string(std::getenv("AEE_TEST_STATE_DIR") ? std::getenv("AEE_TEST_STATE_DIR") : "/tmp") + "/fault_pg_" +
           std::to_string(port_);
    Run("stop");
    Run("rm");
    Start();
  }
  ~PrivateCluster() {
    Run("stop");
    Run("rm");
  }
  void Start() { ASSERT_EQ(Run("start"), 0); }
  /// Stops the server: "immediate" is a crash (no checkpoint, like SIGKILL).
  void Stop(const char* mode) { ASSERT_EQ(Run(std::string("stop-") + mode), 0); }
  std::string url() const { return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres"; }

 private:
  int Run(const std::string& what) {
    std::string script = std::string(AEE_SOURCE_DIR) + "/scripts/pg.sh";
    std::string cmd;
    if (what == "start") cmd = script + " start " + dir_ + " " + std::to_string(port_) + " >/dev/null";
    else if (what == "stop") cmd = script + " stop " + dir_;
    else if (what == "rm") cmd = "rm -rf " + dir_;
    else cmd = script + " " + what + " " + dir_;
    return std::system(cmd.c_str());
  }
  int port_;
  std::string dir_;
};

void LoadSchema(const std::string& url) {
  pqxx::connection c(url);
  pqxx::work tx(c);
  tx.exec(testing::ReadSourceFile("schema/platform.sql"));
  tx.commit();
}

void Exec(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::work tx(c);
  tx.exec(sql);
  tx.commit();
}

std::string CountFinished(const std::vector<prometheus::MetricFamily>& snap) {
  double total = 0;
  for (const auto& f : snap) {
    if (f.name == "agent_runs_finished_total") for (const auto& m : f.metric) total += m.counter.value;
  }
  return std::to_string(static_cast<long long>(total));
}

const std::string kFinished = "SELECT count(*) FROM agent_runs WHERE finished_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";

std::string Scalar(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::work tx(c);
  return tx.exec1(sql)[0].as<std::string>();
}

// What the scheduler does: a failed cycle drops the session.
bool Fails(RunsCollector& c, DbSession& s) {
  try {
    c.Collect(s);
    return false;
  } catch (const std::exception&) {
    s.Reset();
    return true;
  }
}

std::string InsertNow(int n) {
  return "INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
         "SELECT gen_random_uuid(), '" + std::string(testing::kWs1) + "', '" + testing::kAgent1 +
         "', 'completed', now() - interval '3 s', now() - interval '2 s', clock_timestamp() FROM generate_series(1, " +
         std::to_string(n) + ")";
}

TEST(FaultTest, PostgresCrashAndRestartLoseAndDoubleNothing) {
  PrivateCluster pg;
  // The shared test cluster trades durability for speed; a crash test needs
  // commits that survive the crash, as on a real server.
  {
    pqxx::connection c(pg.url());
    pqxx::nontransaction tx(c);
    tx.exec("ALTER SYSTEM SET synchronous_commit = on");
    tx.exec("SELECT pg_reload_conf()");
  }
  LoadSchema(pg.url());
  Exec(pg.url(), std::string("INSERT INTO workspaces VALUES ('") + testing::kWs1 + "', 'A'); INSERT INTO agents VALUES ('" +
                     testing::kAgent1 + "', '" + testing::kWs1 + "', 'x')");
  Exec(pg.url(), InsertNow(200));
  SystemClock clock;
  CollectorContext ctx;
  ctx.quoted_schema = "\"public\"";
  ctx.clock = &clock;
  RunsCollector c(ctx, {});
  DbSession s(pg.url(), "test");
  EXPECT_EQ(CountFinished(c.Collect(s)), "200");
  Exec(pg.url(), InsertNow(50));  // committed, not read yet
  pg.Stop("immediate");           // crash
  EXPECT_TRUE(Fails(c, s));
  EXPECT_TRUE(Fails(c, s));  // still down: reconnect fails cleanly
  pg.Start();
  Exec(pg.url(), InsertNow(30));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(CountFinished(c.Collect(s)), Scalar(pg.url(), kFinished));
  pg.Stop("fast");  // clean restart this time
  pg.Start();
  Exec(pg.url(), InsertNow(7));
  EXPECT_TRUE(Fails(c, s));  // the old connection died with the server
  auto snap = c.Collect(s);
  EXPECT_EQ(CountFinished(snap), Scalar(pg.url(), kFinished));
  EXPECT_EQ(CountFinished(snap), "287");
}

TEST(FaultTest, ExporterStartedWithTheDatabaseDownCatchesUp) {
  PrivateCluster pg;
  LoadSchema(pg.url());
  Exec(pg.url(), std::string("INSERT INTO workspaces VALUES ('") + testing::kWs1 + "', 'A'); INSERT INTO agents VALUES ('" +
                     testing::kAgent1 + "', '" + testing::kWs1 + "', 'x')");
  Exec(pg.url(), InsertNow(40));
  pg.Stop("fast");
  Config cfg;
  std::string err;
  ASSERT_TRUE(ParseFlags({"--web.listen-address=127.0.0.1:0"}, [](const char*) -> const char* { return nullptr; }, &cfg, &err));
  cfg.db_url = pg.url();
  SystemClock clock;
  Logger logger(LogLevel::kError, LogFormat::kLogfmt);
  std::string log;
  logger.SetSinkForTest(&log);
  Exporter e(cfg, clock, logger);
  ASSERT_TRUE(e.Start(&err, false)) << err;
  for (size_t i = 0; i < e.scheduler().size(); ++i) EXPECT_FALSE(e.scheduler().RunOnce(i));
  std::string body;
  EXPECT_FALSE(e.scheduler().Ready(&body));
  EXPECT_NE(e.MetricsText().find("agent_exporter_collector_up{collector=\"runs\"} 0"), std::string::npos);
  pg.Start();
  for (size_t i = 0; i < e.scheduler().size(); ++i) EXPECT_TRUE(e.scheduler().RunOnce(i));
  EXPECT_TRUE(e.scheduler().Ready(&body)) << body;
  EXPECT_NE(e.MetricsText().find("agent_runs_finished_total{workspace_id=\"" + std::string(testing::kWs1) +
                                 "\",agent_id=\"" + testing::kAgent1 + "\",status=\"completed\"} 40"),
            std::string::npos);
}

}  // namespace
}  // namespace aee
