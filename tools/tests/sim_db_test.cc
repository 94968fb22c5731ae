// agent_platform_sim against a real PostgreSQL: each case creates its own database on
// the server of AEE_TEST_DB_URL (started by the test harness, fixture "postgres"), runs
// the real binary and checks what it wrote with SQL.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

namespace {

std::string AdminUrl() {
  const char* url = std::getenv("AEE_TEST_DB_URL");
  return url ? url : "";
}

// Same server, another database: URIs get the path replaced, keyword strings get a
// later dbname (libpq lets the last one win).
std::string WithDatabase(const std::string& url, const std::string& db) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url + " dbname=" + db;
  const auto query = url.find('?', scheme + 3);
  const auto slash = url.find('/', scheme + 3);
  const std::string rest = query == std::string::npos ? "" : url.substr(query);
  const std::string head = url.substr(0, std::min(slash, query));
  return head + "/" + db + rest;
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct SimResult {
  int exit_code = -1;
  std::string err;
  std::map<std::string, long> summary;  // from the "summary:" line
};

SimResult RunSim(const std::vector<std::string>& args) {
  static int counter = 0;
  const std::string err_file = "/tmp/sim_test_" + std::to_string(getpid()) + "_" +
                               std::to_string(counter++) + ".err";
  std::string cmd = Quote(AEE_SIM_BINARY);
  for (const auto& a : args) cmd += " " + Quote(a);
  cmd += " 2>" + Quote(err_file) + " </dev/null >/dev/null";
  SimResult r;
  const int status = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  std::remove(err_file.c_str());
  const auto pos = r.err.find("summary:");
  if (pos != std::string::npos) {
    const std::string line = r.err.substr(pos, r.err.find('\n', pos) - pos);
    const std::regex kv("([a-z_]+)=([0-9]+)");
    for (std::sregex_iterator it(line.begin(), line.end(), kv), end; it != end; ++it) {
      r.summary[(*it)[1]] = std::stol((*it)[2]);
    }
  }
  return r;
}

// A fresh database with the schema loaded through the simulator's --init-schema.
class SimDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(AdminUrl().empty())
        << "AEE_TEST_DB_URL is not set; ctest provides it through the postgres fixture";
    static int n = 0;
    db_ = "sim_test_" + std::to_string(getpid()) + "_" + std::to_string(n++);
    pqxx::connection admin(AdminUrl());
    pqxx::nontransaction tx(admin);
    tx.exec0("DROP DATABASE IF EXISTS " + db_);
    tx.exec0("CREATE DATABASE " + db_);
    url_ = WithDatabase(AdminUrl(), db_);
    const SimResult init = Sim({"--init-schema"});
    ASSERT_EQ(init.exit_code, 0) << init.err;
  }
  void TearDown() override {
    if (db_.empty() || AdminUrl().empty()) return;
    pqxx::connection admin(AdminUrl());
    pqxx::nontransaction tx(admin);
    tx.exec0("DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
  }

  SimResult Sim(std::vector<std::string> args) {
    args.insert(args.begin(), "--db.url=" + url_);
    return RunSim(args);
  }
  // Live runs in tests: fast runs so many finish within seconds.
  SimResult Live(const std::string& duration, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--live", "--duration=" + duration, "--runtime-scale=0.1",
                                     "--seed=5"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Sim(args);
  }

  double Scalar(const std::string& sql, const std::string& schema = "public") {
    pqxx::connection c(url_);
    pqxx::work tx(c);
    tx.exec0("SET LOCAL search_path TO " + schema);
    const auto r = tx.exec1(sql);
    return r[0].is_null() ? -1 : r[0].as<double>();
  }

  // Checks that hold after any run, live or backfill.
  void ExpectRowInvariants(const std::string& schema = "public") {
    // finished_at is set exactly for terminal statuses; no run is both queued and finished.
    EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE (finished_at IS NOT NULL) <> "
                     "(status IN ('completed','failed','cancelled'))", schema), 0);
    EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE status NOT IN "
                     "('queued','running','completed','failed','cancelled')", schema), 0);
    // started_at exactly for runs that left the queue; only cancellations skip it.
    EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE (started_at IS NULL) <> "
                     "(status = 'queued' OR (status = 'cancelled' AND runtime_seconds IS NULL))",
                     schema), 0);
    EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE started_at IS NULL AND "
                     "(runtime_seconds IS NOT NULL OR queue_wait_seconds IS NOT NULL)", schema), 0);
    // Ordered timestamps.
    EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE queued_at IS NULL OR "
                     "started_at < queued_at OR finished_at < started_at OR "
                     "finished_at < queued_at", schema), 0);
    // Latency columns are the timestamp differences.
    EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE "
                     "abs(queue_wait_seconds - extract(epoch FROM started_at - queued_at)) > 1e-6 "
                     "OR abs(runtime_seconds - extract(epoch FROM finished_at - started_at)) > 1e-6 "
                     "OR abs(total_latency_seconds - extract(epoch FROM finished_at - queued_at)) > 1e-6 "
                     "OR (started_at IS NOT NULL AND queue_wait_seconds IS NULL) "
                     "OR (finished_at IS NOT NULL AND total_latency_seconds IS NULL) "
                     "OR (finished_at IS NOT NULL AND started_at IS NOT NULL AND runtime_seconds IS NULL)",
                     schema), 0);
    // Every run has exactly one queue row whose status matches the run's.
    EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs r LEFT JOIN execution_queue q USING (run_id) "
                     "WHERE q.queue_id IS NULL OR q.status <> CASE "
                     "WHEN r.status = 'queued' THEN 'queued' "
                     "WHEN r.started_at IS NULL THEN 'cancelled' ELSE 'dispatched' END", schema), 0);
    EXPECT_EQ(Scalar("SELECT count(*) - count(DISTINCT run_id) FROM execution_queue", schema), 0);
    // Model calls belong to runs that started, and happen inside them.
    EXPECT_EQ(Scalar("SELECT count(*) FROM model_calls m LEFT JOIN agent_runs r USING (run_id) "
                     "WHERE r.run_id IS NULL OR r.started_at IS NULL OR m.created_at < r.started_at "
                     "OR m.created_at > coalesce(r.finished_at, 'infinity') "
                     "OR m.latency_seconds <= 0 OR m.cost_usd <= 0 OR m.prompt_tokens <= 0",
                     schema), 0);
    EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs r LEFT JOIN agents a ON a.id = r.agent_id "
                     "WHERE a.id IS NULL OR a.workspace_id <> r.workspace_id", schema), 0);
  }

  std::string db_;
  std::string url_;
};

TEST(SimBinaryTest, BadFlagExitsTwoWithOneLine) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--db.url=x", "--live", "--bogus"},
        std::vector<std::string>{"--db.url=x", "--live", "--rate=fast"},
        std::vector<std::string>{"--db.url=x", "--live", "--scenario=burst:factor=x"}}) {
    const SimResult r = RunSim(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    const std::string flag = args.back().substr(0, args.back().find('='));
    EXPECT_NE(r.err.find(flag), std::string::npos) << r.err;
  }
  EXPECT_EQ(RunSim({"--help"}).exit_code, 0);
}

TEST_F(SimDbTest, BackfillInvariantsAndShape) {
  // Tue 2024-05-07 00:00 UTC back over 8 days: two weekends' worth of Saturdays/Sundays.
  const SimResult r = Sim({"--backfill-days=8", "--rate=0.2", "--seed=11",
                           "--backfill-end=2024-05-07T00:00:00Z"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const double runs = Scalar("SELECT count(*) FROM agent_runs");
  EXPECT_NEAR(runs, 0.2 * 86400 * 8, 0.2 * 86400 * 8 * 0.25);
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE finished_at IS NULL"), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE queued_at < '2024-04-29' OR "
                   "finished_at >= '2024-05-07'"), 0);
  // Counts per status add up, and all three outcomes occur.
  EXPECT_EQ(Scalar("SELECT sum(n) FROM (SELECT count(*) AS n FROM agent_runs GROUP BY status) s"),
            runs);
  EXPECT_GT(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'failed'"), runs * 0.01);
  EXPECT_GT(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'cancelled' AND started_at IS NULL"), 0);
  EXPECT_GT(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'cancelled' AND started_at IS NOT NULL"), 0);
  EXPECT_GT(Scalar("SELECT count(DISTINCT model) FROM model_calls"), 2);
  EXPECT_EQ(Scalar("SELECT count(*) FROM workspaces"), 3);
  EXPECT_EQ(Scalar("SELECT count(*) FROM agents"), 15);
  EXPECT_EQ(Scalar("SELECT count(*) FROM workers"), 8);
  ExpectRowInvariants();

  // Diurnal: night hours (00-05 UTC) far quieter than working hours (11-17).
  const double night = Scalar("SELECT count(*) / 6.0 FROM agent_runs WHERE extract(hour FROM queued_at AT TIME ZONE 'UTC') < 6");
  const double day = Scalar("SELECT count(*) / 6.0 FROM agent_runs WHERE extract(hour FROM queued_at AT TIME ZONE 'UTC') BETWEEN 11 AND 16");
  EXPECT_LT(night * 2, day);
  // Weekly: a weekend day well below a weekday.
  const double weekend = Scalar("SELECT count(*) / 2.0 FROM agent_runs WHERE extract(isodow FROM queued_at AT TIME ZONE 'UTC') IN (6, 7)");
  const double weekday = Scalar("SELECT count(*) / 6.0 FROM agent_runs WHERE extract(isodow FROM queued_at AT TIME ZONE 'UTC') < 6");
  EXPECT_LT(weekend * 1.5, weekday);
  // Queue waits grow with load: busy hours wait longer than night hours.
  const double wait_night = Scalar("SELECT avg(queue_wait_seconds) FROM agent_runs WHERE extract(hour FROM queued_at AT TIME ZONE 'UTC') < 6");
  const double wait_day = Scalar("SELECT avg(queue_wait_seconds) FROM agent_runs WHERE extract(hour FROM queued_at AT TIME ZONE 'UTC') BETWEEN 11 AND 16 AND extract(isodow FROM queued_at AT TIME ZONE 'UTC') < 6");
  EXPECT_GT(wait_day, wait_night * 2);
  // Agents differ: per-agent median runtimes spread by more than 3x.
  EXPECT_GT(Scalar("SELECT max(m) / min(m) FROM (SELECT percentile_cont(0.5) WITHIN GROUP "
                   "(ORDER BY runtime_seconds) AS m FROM agent_runs WHERE status = 'completed' "
                   "GROUP BY agent_id) s"), 3);

  // A second run over the same window adds nothing.
  const SimResult again = Sim({"--backfill-days=8", "--rate=0.2", "--seed=11",
                               "--backfill-end=2024-05-07T00:00:00Z"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs"), runs);
}

TEST_F(SimDbTest, SameSeedSameBackfill) {
  for (const char* schema : {"a", "b", "c"}) {
    const std::string seed = std::string(schema) == "c" ? "--seed=8" : "--seed=7";
    const SimResult r = Sim({"--db.schema=" + std::string(schema), "--init-schema",
                             "--backfill-days=2", "--rate=0.3", seed, "--backfill-jobs=3",
                             "--backfill-end=1714000000"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  const std::string calls = "run_id, workspace_id, agent_id, model, prompt_tokens, "
                            "completion_tokens, latency_seconds, cost_usd, created_at";
  auto diff = [&](const std::string& x, const std::string& y) {
    return Scalar("SELECT (SELECT count(*) FROM (TABLE " + x + ".agent_runs EXCEPT TABLE " + y +
                  ".agent_runs) d) + (SELECT count(*) FROM (TABLE " + x +
                  ".execution_queue EXCEPT TABLE " + y + ".execution_queue) d) + "
                  "(SELECT count(*) FROM (SELECT " + calls + " FROM " + x +
                  ".model_calls EXCEPT ALL SELECT " + calls + " FROM " + y + ".model_calls) d)");
  };
  EXPECT_GT(Scalar("SELECT count(*) FROM a.agent_runs"), 1000);
  EXPECT_EQ(Scalar("SELECT count(*) FROM a.agent_runs"), Scalar("SELECT count(*) FROM b.agent_runs"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM a.model_calls"), Scalar("SELECT count(*) FROM b.model_calls"));
  EXPECT_EQ(diff("a", "b"), 0);
  EXPECT_EQ(diff("b", "a"), 0);
  EXPECT_EQ(Scalar("SELECT count(*) FROM (TABLE a.agents EXCEPT TABLE b.agents) d"), 0);
  EXPECT_GT(diff("a", "c"), 1000);  // another seed, another history
}

TEST_F(SimDbTest, LiveCountsMatchAndRowsStayConsistent) {
  const SimResult r = Live("8s", {"--rate=40", "--late-commit-fraction=0.2",
                                  "--late-commit-delay=1s", "--stats-interval=2s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.summary.empty()) << r.err;
  EXPECT_NE(r.err.find("stats: finished/s="), std::string::npos) << r.err;
  // The database holds exactly what the simulator says it did (late commits included).
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs"), r.summary.at("arrived"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'completed'"), r.summary.at("completed"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'failed'"), r.summary.at("failed"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'cancelled'"), r.summary.at("cancelled"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'running'"), r.summary.at("running"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'queued'"), r.summary.at("queued"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM model_calls"), r.summary.at("model_calls"));
  EXPECT_EQ(r.summary.at("arrived"), r.summary.at("completed") + r.summary.at("failed") +
                                         r.summary.at("cancelled") + r.summary.at("running") +
                                         r.summary.at("queued"));
  EXPECT_GT(r.summary.at("arrived"), 200);
  EXPECT_GT(r.summary.at("completed"), 100);
  EXPECT_GT(r.summary.at("late_commits"), 5);
  ExpectRowInvariants();
  // Workers heartbeat and report load.
  EXPECT_EQ(Scalar("SELECT count(*) FROM workers WHERE last_heartbeat > now() - interval '5 s'"), 8);
  EXPECT_GT(Scalar("SELECT count(*) FROM workers WHERE status = 'busy' AND cpu_percent > 10"), 0);
  // Runs arrive with several priorities.
  EXPECT_GT(Scalar("SELECT count(DISTINCT priority) FROM execution_queue"), 1);
}

TEST_F(SimDbTest, BurstThenDropShapeArrivals) {
  const SimResult r = Live("9s", {"--rate=20", "--scenario=burst:start=3s,duration=3s,factor=6",
                                  "--scenario=drop:start=6s,duration=60s,factor=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("scenario burst start"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("scenario burst end"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("scenario drop start"), std::string::npos) << r.err;
  const std::string t0 = "(SELECT min(queued_at) FROM agent_runs)";
  const double before = Scalar("SELECT count(*) FROM agent_runs WHERE queued_at < " + t0 + " + interval '2.9 s'");
  const double burst = Scalar("SELECT count(*) FROM agent_runs WHERE queued_at BETWEEN " + t0 +
                              " + interval '3.2 s' AND " + t0 + " + interval '5.8 s'");
  EXPECT_GT(before, 20);
  EXPECT_GT(burst / 2.6, 3.5 * before / 2.9);
  // drop factor 0: no arrival after it started.
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE queued_at > " + t0 + " + interval '6.2 s'"), 0);
  ExpectRowInvariants();
}

TEST_F(SimDbTest, FailureSurgeRaisesFailureShare) {
  const SimResult r = Live("10s", {"--rate=40", "--scenario=failure-surge:start=5s,duration=60s,factor=0.8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string t0 = "(SELECT min(queued_at) FROM agent_runs)";
  auto share = [&](const std::string& window) {
    return Scalar("SELECT avg((status = 'failed')::int) FROM agent_runs WHERE status IN "
                  "('completed','failed') AND " + window);
  };
  const double before = share("queued_at < " + t0 + " + interval '4.8 s'");
  const double during = share("queued_at > " + t0 + " + interval '5.2 s'");
  EXPECT_LT(before, 0.2);
  EXPECT_GT(during, 0.65);
  ExpectRowInvariants();
}

TEST_F(SimDbTest, BacklogTakesWorkersAwayAndGrowsTheQueue) {
  const SimResult r = Live("10s", {"--rate=30", "--runtime-scale=0.5",
                                   "--scenario=backlog:start=3s,duration=60s,factor=0.875"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 7 of 8 workers gone: offline and silent.
  EXPECT_EQ(Scalar("SELECT count(*) FROM workers WHERE status = 'offline'"), 7);
  EXPECT_GT(Scalar("SELECT extract(epoch FROM max(last_heartbeat) - min(last_heartbeat)) FROM workers"), 4);
  // The queue grew: many runs still waiting, and they waited longer than before.
  EXPECT_GT(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'queued'"), 40);
  EXPECT_EQ(Scalar("SELECT count(*) FROM execution_queue WHERE status = 'queued'"),
            Scalar("SELECT count(*) FROM agent_runs WHERE status = 'queued'"));
  const std::string t0 = "(SELECT min(queued_at) FROM agent_runs)";
  const double early_wait = Scalar("SELECT coalesce(avg(queue_wait_seconds), 0) FROM agent_runs "
                                   "WHERE started_at < " + t0 + " + interval '2.5 s'");
  const double late_wait = Scalar("SELECT avg(queue_wait_seconds) FROM agent_runs "
                                  "WHERE started_at > " + t0 + " + interval '6 s'");
  EXPECT_GT(late_wait, early_wait + 1);
  ExpectRowInvariants();
}

TEST_F(SimDbTest, StuckRunsOutliveTheirEstimate) {
  const SimResult r = Live("9s", {"--rate=20", "--scenario=stuck-runs:start=2s,duration=60s,factor=0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'running' AND "
                   "extract(epoch FROM now() - started_at) > 3 * estimated_runtime + 1"), 10);
  // Before the scenario nothing hangs: runs started early are all finished.
  EXPECT_EQ(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'running' AND started_at < "
                   "(SELECT min(queued_at) FROM agent_runs) + interval '1.5 s'"), 0);
  ExpectRowInvariants();
}

TEST_F(SimDbTest, SlowModelRaisesCallLatency) {
  // Calls are written with their run's terminal update: a window that closes early
  // lets the slowed runs finish before exit, so the comparison is not biased to short ones.
  const SimResult r = Live("12s", {"--rate=20", "--scenario=slow-model:start=2s,duration=3s,factor=5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string t0 = "(SELECT min(queued_at) FROM agent_runs)";
  const double before = Scalar("SELECT avg(m.latency_seconds) FROM model_calls m JOIN agent_runs r "
                               "USING (run_id) WHERE r.queued_at < " + t0 + " + interval '1.8 s'");
  const double after = Scalar("SELECT avg(m.latency_seconds) FROM model_calls m JOIN agent_runs r "
                              "USING (run_id) WHERE r.queued_at BETWEEN " + t0 + " + interval '2.2 s' AND " +
                              t0 + " + interval '4.8 s'");
  EXPECT_LT(Scalar("SELECT count(*) FROM agent_runs WHERE status = 'running' AND queued_at < " + t0 +
                   " + interval '5 s'"),
            0.05 * Scalar("SELECT count(*) FROM agent_runs WHERE queued_at < " + t0 + " + interval '5 s'"));
  EXPECT_GT(before, 0);
  EXPECT_GT(after, 3 * before);
  ExpectRowInvariants();
}

TEST_F(SimDbTest, ControlFileStartsScenarioWhileRunning) {
  const std::string control = "/tmp/sim_test_control_" + std::to_string(getpid()) + "_" + db_;
  { std::ofstream(control) << "# old lines are not replayed\nburst duration=60s factor=9\n"; }
  SimResult r;
  std::thread sim([&] { r = Live("10s", {"--rate=40", "--control-file=" + control}); });
  std::this_thread::sleep_for(std::chrono::seconds(4));
  { std::ofstream(control, std::ios::app) << "not-a-scenario\nfailure-surge duration=60s factor=0.9\n"; }
  sim.join();
  std::remove(control.c_str());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("scenario failure-surge start"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ignoring line \"not-a-scenario\""), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("scenario burst"), std::string::npos) << r.err;
  const double total = Scalar("SELECT count(*) FROM agent_runs");
  EXPECT_GT(total, 200);
  EXPECT_LT(total, 40 * 10 * 2);  // the stale burst line did not fire
  const std::string t0 = "(SELECT min(queued_at) FROM agent_runs)";
  auto share = [&](const std::string& window) {
    return Scalar("SELECT avg((status = 'failed')::int) FROM agent_runs WHERE status IN "
                  "('completed','failed') AND " + window);
  };
  EXPECT_LT(share("queued_at < " + t0 + " + interval '3 s'"), 0.2);
  EXPECT_GT(share("queued_at > " + t0 + " + interval '6 s'"), 0.7);
}

}  // namespace
