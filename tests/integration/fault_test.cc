// Fault tests with a PostgreSQL cluster of their own (started, crashed and
// restarted here), so the shared test server stays untouched.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
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
using SteadyClock = std::chrono::steady_clock;

// Whether pid is a live process (a zombie counts as dead: nobody may reap it here).
bool Alive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return false;
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 2));
    char state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

/// A free loopback port below the kernel's ephemeral range (32768-60999 by
/// default), so no outgoing connection takes it while the server is down; several
/// test processes run at once, each from its own pid.
int FreePort() {
  for (int i = 0; i < 200; ++i) {
    const int port = 23000 + static_cast<int>((getpid() * 7 + i * 131) % 8000);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (free) return port;
  }
  ADD_FAILURE() << "no free port";
  return 0;
}

/// What KillPostmaster found: the server's children, and how many of them were
/// still alive after the grace period and had to be killed too.
struct KillReport {
  size_t children = 0;
  size_t survivors = 0;
  double seconds_until_orphans_gone = 0;
};

class PrivateCluster {
 public:
  PrivateCluster() {
    port_ = FreePort();
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

  /// The shared test cluster trades durability for speed; a crash test needs
  /// commits that survive the crash, as on a real server.
  void MakeCommitsDurable() { Alter("synchronous_commit = on", false); }
  /// Sets a parameter with ALTER SYSTEM; restart=true for those read at start only.
  void Alter(const std::string& setting, bool restart) {
    {
      pqxx::connection c(url());
      pqxx::nontransaction tx(c);
      tx.exec("ALTER SYSTEM SET " + setting);
      tx.exec("SELECT pg_reload_conf()");
    }
    if (restart) {
      Stop("fast");
      Start();
    }
  }

  /// kill -9 of the postmaster, as the OOM killer does. Its backends lose their
  /// parent; PostgreSQL refuses to start again while any of them still holds the
  /// old shared memory, so they get a grace period to notice and exit, and are
  /// killed after it.
  KillReport KillPostmaster() {
    KillReport report;
    std::ifstream in(dir_ + "/data/postmaster.pid");
    pid_t pm = 0;
    in >> pm;
    EXPECT_GT(pm, 0);
    if (pm <= 0) return report;
    const std::vector<pid_t> children = ChildrenOf(pm);
    report.children = children.size();
    const auto t0 = SteadyClock::now();
    EXPECT_EQ(kill(pm, SIGKILL), 0);
    while (Alive(pm)) std::this_thread::sleep_for(milliseconds(10));
    auto alive = [&] {
      size_t n = 0;
      for (pid_t c : children) n += Alive(c) ? 1 : 0;
      return n;
    };
    while (alive() > 0 && SteadyClock::now() - t0 < seconds(5)) std::this_thread::sleep_for(milliseconds(20));
    report.survivors = alive();
    for (pid_t c : children) {
      if (Alive(c)) kill(c, SIGKILL);
    }
    while (alive() > 0) std::this_thread::sleep_for(milliseconds(10));
    report.seconds_until_orphans_gone = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    return report;
  }

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

double TotalFinished(const std::vector<prometheus::MetricFamily>& snap) {
  double total = 0;
  for (const auto& f : snap) {
    if (f.name == "agent_runs_finished_total") for (const auto& m : f.metric) total += m.counter.value;
  }
  return total;
}

std::string CountFinished(const std::vector<prometheus::MetricFamily>& snap) {
  return std::to_string(static_cast<long long>(TotalFinished(snap)));
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

// --- the whole exporter against a cluster that misbehaves ---------------------

const std::string kToday = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'";
const std::string kTomorrow = "(" + kToday + ") + interval '1 day'";

/// The counters cover "since 00:00 UTC": a test that straddles midnight would
/// compare two different days.
bool NearMidnightUtc() {
  const std::time_t now = std::time(nullptr);
  return 86400 - now % 86400 < 300;
}

/// n runs finished "now", stamped by the database inside the inserting
/// transaction, through the same generator as the other integration tests.
void InsertRunsNow(testing::TestDb& db, int n, double seed) {
  testing::InsertFinishedRuns(db, n, "now()", "now() + interval '1 millisecond'", seed);
}

double Since(SteadyClock::time_point t0) { return std::chrono::duration<double>(SteadyClock::now() - t0).count(); }

/// A running exporter (collector threads, HTTP on a free port) with short
/// intervals, so a fault shows within a fraction of a second.
class LiveExporter {
 public:
  explicit LiveExporter(const std::string& db_url) : logger_(LogLevel::kError, LogFormat::kLogfmt) {
    Config cfg;
    std::string err;
    const std::vector<std::string> flags = {
        "--web.listen-address=127.0.0.1:0",    "--web.rate-limit=0",
        "--collector.realtime.interval=200ms", "--collector.realtime.timeout=1s",
        "--collector.runs.interval=200ms",     "--collector.runs.timeout=1s",
        "--collector.info.interval=200ms"};
    EXPECT_TRUE(ParseFlags(flags, [](const char*) -> const char* { return nullptr; }, &cfg, &err)) << err;
    cfg.db_url = db_url;
    logger_.SetSinkForTest(&log_);
    exporter_ = std::make_unique<Exporter>(cfg, clock_, logger_);
    exporter_->scheduler().KeepSnapshots(true);  // the checks read scheduler().Gather()
    EXPECT_TRUE(exporter_->Start(&err)) << err;
    port_ = exporter_->port();
  }
  ~LiveExporter() { exporter_->Stop(); }

  CollectorStatus Status(const std::string& collector) const {
    for (const auto& s : exporter_->scheduler().Status()) {
      if (s.name == collector) return s;
    }
    ADD_FAILURE() << "no collector " << collector;
    return {};
  }
  /// What /metrics serializes: the latest published snapshots.
  std::vector<prometheus::MetricFamily> Snapshot() const { return exporter_->scheduler().Gather(); }
  testing::HttpResult Get(const std::string& path) const { return testing::HttpGet(port_, path); }

  /// Waits until pred holds; seconds waited, or -1 after timeout.
  template <typename Pred>
  static double WaitFor(Pred pred, std::chrono::milliseconds timeout) {
    const auto t0 = SteadyClock::now();
    while (!pred()) {
      if (SteadyClock::now() - t0 > timeout) return -1;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return Since(t0);
  }

  /// Waits until the runs collector is down (a cycle failed since the fault).
  double WaitDown(const std::string& collector, std::chrono::milliseconds timeout = seconds(10)) const {
    return WaitFor([&] { return !Status(collector).up; }, timeout);
  }

  /// Waits until the exposed finished-run total equals SQL's, then lets three more
  /// cycles pass (a doubled row would show up there) and checks every counter,
  /// bucket, count and sum of the runs collector against SQL. Seconds until caught
  /// up, or -1.
  double ExpectCaughtUp(testing::TestDb& db, std::chrono::milliseconds timeout) const {
    const double truth = std::stod(db.Scalar("SELECT count(*) FROM agent_runs WHERE finished_at >= " + kToday +
                                             " AND finished_at < " + kTomorrow));
    const double waited = WaitFor([&] { return Status("runs").up && TotalFinished(Snapshot()) == truth; }, timeout);
    EXPECT_GE(waited, 0) << "runs collector did not catch up: " << TotalFinished(Snapshot()) << " of " << truth
                         << " runs; last error: " << Status("runs").last_error;
    const std::uint64_t cycles = Status("runs").cycles;
    WaitFor([&] { return Status("runs").cycles >= cycles + 3; }, seconds(10));
    auto snap = Snapshot();
    EXPECT_EQ(TotalFinished(snap), truth);
    testing::ExpectRunsMatchSql(db, snap, kToday, kTomorrow);
    return waited;
  }

  const std::string& log() const { return log_; }

 private:
  SystemClock clock_;
  Logger logger_;
  std::string log_;  // read only after Stop
  std::unique_ptr<Exporter> exporter_;
  int port_ = 0;
};

/// The finished-run families of a /metrics body (sorted lines): they must stay
/// exactly as they were while the database is away.
std::string RunLines(const std::string& body) {
  static const char* kPrefixes[] = {"agent_runs_finished_total{", "agent_run_runtime_seconds_total{",
                                    "agent_run_queue_wait_seconds_", "agent_run_duration_seconds_",
                                    "agent_run_end_to_end_seconds_"};
  std::istringstream in(body);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    for (const char* p : kPrefixes) {
      if (line.rfind(p, 0) == 0) {
        lines.push_back(line);
        break;
      }
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

/// During an outage /metrics answers 200 with the last values and the collector down.
std::string ExpectServesLastValues(const LiveExporter& ex, const std::string& collector = "runs") {
  testing::HttpResult r = ex.Get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("agent_exporter_collector_up{collector=\"" + collector + "\"} 0"), std::string::npos);
  const std::string lines = RunLines(r.body);
  EXPECT_NE(lines.find("agent_runs_finished_total{"), std::string::npos) << "last values gone";
  return lines;
}

/// The exporter's sessions (application_name "agent_execution_exporter/<collector>"):
/// backend pid by collector.
std::multimap<std::string, int> ExporterBackends(const std::string& url) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  std::multimap<std::string, int> out;
  for (const auto& row : tx.exec("SELECT substr(application_name, 26), pid FROM pg_stat_activity "
                                 "WHERE application_name LIKE 'agent_execution_exporter/%'")) {
    out.emplace(row[0].as<std::string>(), row[1].as<int>());
  }
  return out;
}

TEST(FaultTest, PostgresCrashAndRestartLoseAndDoubleNothing) {
  PrivateCluster pg;
  pg.MakeCommitsDurable();
  LoadSchema(pg.url());
  Exec(pg.url(), std::string("INSERT INTO workspaces VALUES ('") + testing::kWs1 + "', 'A'); INSERT INTO agents VALUES ('" +
                     testing::kAgent1 + "', '" + testing::kWs1 + "', 'x')");
  Exec(pg.url(), InsertNow(200));
  SystemClock clock;
  CollectorContext ctx = testing::Ctx(clock);
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
  e.scheduler().KeepSnapshots(true);  // the checks read scheduler().Gather()
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

TEST(FaultTest, PostmasterKilledWithSigkillLosesAndDoublesNothing) {
  if (NearMidnightUtc()) GTEST_SKIP() << "too close to 00:00 UTC, when the counters reset";
  PrivateCluster pg;
  pg.MakeCommitsDurable();
  testing::TestDb db("public", pg.url());
  testing::InsertWorkspacesAndAgents(db);
  InsertRunsNow(db, 300, 0.61);
  LiveExporter ex(db.url());
  ASSERT_GE(ex.ExpectCaughtUp(db, seconds(20)), 0);

  InsertRunsNow(db, 50, 0.62);  // committed; read or not before the kill
  const KillReport kill = pg.KillPostmaster();
  std::cout << "[ figures  ] SIGKILL: " << kill.children << " server processes orphaned, " << kill.survivors
            << " still alive after 5 s and killed; all gone after " << kill.seconds_until_orphans_gone << " s\n";
  EXPECT_GT(kill.children, 0u);
  ASSERT_GE(ex.WaitDown("runs"), 0);
  const std::string during = ExpectServesLastValues(ex);
  std::this_thread::sleep_for(seconds(1));
  EXPECT_EQ(ExpectServesLastValues(ex), during) << "values moved while the database was down";

  const auto restarted = SteadyClock::now();
  pg.Start();  // crash recovery replays the WAL
  db.Reconnect();
  InsertRunsNow(db, 40, 0.63);
  const double caught_up = ex.ExpectCaughtUp(db, seconds(30));
  std::cout << "[ figures  ] SIGKILL: caught up " << Since(restarted) << " s after the restart began\n";
  EXPECT_GE(caught_up, 0);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM agent_runs"), "390");  // the 50 survived the crash
}

TEST(FaultTest, DatabaseStoppedForAMinuteWhileTheExporterServes) {
  if (NearMidnightUtc()) GTEST_SKIP() << "too close to 00:00 UTC, when the counters reset";
  PrivateCluster pg;
  testing::TestDb db("public", pg.url());
  testing::InsertWorkspacesAndAgents(db);
  InsertRunsNow(db, 400, 0.71);
  LiveExporter ex(db.url());
  ASSERT_GE(ex.ExpectCaughtUp(db, seconds(20)), 0);
  const std::string before = RunLines(ex.Get("/metrics").body);
  const std::uint64_t errors_before = ex.Status("runs").errors;

  pg.Stop("fast");
  const auto stopped = SteadyClock::now();
  ASSERT_GE(ex.WaitDown("runs"), 0);
  int scrapes = 0;
  while (SteadyClock::now() - stopped < seconds(60)) {
    EXPECT_EQ(ExpectServesLastValues(ex), before);
    EXPECT_EQ(ex.Get("/healthz").status, 200);
    if (SteadyClock::now() - stopped > seconds(2)) {
      testing::HttpResult ready = ex.Get("/readyz");
      EXPECT_EQ(ready.status, 503);
      EXPECT_NE(ready.body.find("\"failing\""), std::string::npos) << ready.body;
    }
    ++scrapes;
    std::this_thread::sleep_for(seconds(5));
  }
  const std::uint64_t failed_cycles = ex.Status("runs").errors - errors_before;
  // A 200 ms collector retrying without backoff would fail 300 times in a minute.
  EXPECT_LE(failed_cycles, 12u);
  EXPECT_GE(failed_cycles, 5u);

  const auto restarted = SteadyClock::now();
  pg.Start();
  db.Reconnect();
  InsertRunsNow(db, 60, 0.72);
  const double caught_up = ex.ExpectCaughtUp(db, seconds(45));
  EXPECT_GE(caught_up, 0);
  const double runs_back = Since(restarted);
  // Every collector retries at its own backoff (at most 30 s, or its interval when
  // longer): readiness returns once the last of them has had its next try.
  EXPECT_GE(LiveExporter::WaitFor([&] { return ex.Get("/readyz").status == 200; }, seconds(45)), 0);
  std::cout << "[ figures  ] outage " << std::chrono::duration<double>(restarted - stopped).count() << " s, "
            << scrapes << " scrapes answered 200 with the last values, " << failed_cycles
            << " failed runs cycles (backoff); runs caught up " << runs_back << " s and /readyz 200 "
            << Since(restarted) << " s after the restart began\n";
}

TEST(FaultTest, LockPastStatementTimeoutFailsTheCycleAloneAndLosesNothing) {
  if (NearMidnightUtc()) GTEST_SKIP() << "too close to 00:00 UTC, when the counters reset";
  PrivateCluster pg;
  testing::TestDb db("public", pg.url());
  testing::InsertWorkspacesAndAgents(db);
  InsertRunsNow(db, 200, 0.81);
  LiveExporter ex(db.url());
  ASSERT_GE(ex.ExpectCaughtUp(db, seconds(20)), 0);
  const std::string before = RunLines(ex.Get("/metrics").body);
  const std::uint64_t errors_before = ex.Status("runs").errors;

  // A migration holds the table; the transaction that holds it also finishes
  // runs, stamped at its start and committed seconds later.
  pqxx::connection locker(db.url());
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE agent_runs IN ACCESS EXCLUSIVE MODE");
  lock->exec("SELECT setseed(0.82)");
  const auto locked = SteadyClock::now();
  ASSERT_GE(LiveExporter::WaitFor([&] { return ex.Status("runs").errors >= errors_before + 2; }, seconds(15)), 0);
  const CollectorStatus runs = ex.Status("runs");
  EXPECT_NE(runs.last_error.find("statement timeout"), std::string::npos) << runs.last_error;
  EXPECT_NEAR(runs.last_duration_seconds, 1.0, 0.5);  // ended by the 1 s statement_timeout
  EXPECT_TRUE(ex.Status("info").up);                  // a failing collector fails alone
  EXPECT_EQ(ExpectServesLastValues(ex), before);
  lock->exec(
      "INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at, "
      "runtime_seconds) SELECT gen_random_uuid(), '" + std::string(testing::kWs1) + "', '" + testing::kAgent1 +
      "', 'completed', now() - interval '9 s', now() - interval '5 s', now(), 5 FROM generate_series(1, 30)");
  lock->commit();
  const double held = Since(locked);
  lock.reset();
  const auto released = SteadyClock::now();
  const double caught_up = ex.ExpectCaughtUp(db, seconds(20));
  EXPECT_GE(caught_up, 0);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM agent_runs"), "230");
  std::cout << "[ figures  ] lock held " << held << " s: " << ex.Status("runs").errors - errors_before
            << " runs cycles ended by statement_timeout after " << runs.last_duration_seconds
            << " s each; caught up (late commit included) " << Since(released) << " s after release\n";
}

TEST(FaultTest, MaxConnectionsExhaustedReconnectsFailClearlyThenRecover) {
  if (NearMidnightUtc()) GTEST_SKIP() << "too close to 00:00 UTC, when the counters reset";
  PrivateCluster pg;
  pg.Alter("max_connections = 20", /*restart=*/true);
  testing::TestDb db("public", pg.url());
  testing::InsertWorkspacesAndAgents(db);
  InsertRunsNow(db, 100, 0.91);
  LiveExporter ex(db.url());
  ASSERT_GE(ex.ExpectCaughtUp(db, seconds(20)), 0);
  const std::string before = RunLines(ex.Get("/metrics").body);

  // Another client takes every slot; the exporter's sessions are ended so that
  // it has to reconnect, and the slots they free are taken too.
  std::vector<std::unique_ptr<pqxx::connection>> hogs;
  std::string refusal;
  auto fill = [&] {
    for (int i = 0; i < 40; ++i) {
      try {
        hogs.push_back(std::make_unique<pqxx::connection>(pg.url()));
      } catch (const std::exception& e) {
        refusal = e.what();
        return;
      }
    }
  };
  fill();
  ASSERT_FALSE(hogs.empty());
  for (int round = 0; round < 5; ++round) {
    pqxx::nontransaction tx(*hogs.front());
    tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'agent_execution_exporter/%'");
    fill();
    if (tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'agent_execution_exporter/%'")[0]
            .as<int>() == 0) {
      break;
    }
  }
  EXPECT_NE(refusal.find("too many clients"), std::string::npos) << refusal;
  const auto exhausted = SteadyClock::now();
  InsertRunsNow(db, 25, 0.92);  // over the test's own, older connection
  ASSERT_GE(LiveExporter::WaitFor(
                [&] {
                  const CollectorStatus s = ex.Status("runs");
                  return !s.up && s.last_error.find("too many clients") != std::string::npos;
                },
                seconds(10)),
            0)
      << ex.Status("runs").last_error;
  testing::HttpResult ready = ex.Get("/readyz");
  EXPECT_NE(ready.body.find("too many clients already"), std::string::npos) << ready.body;
  EXPECT_EQ(ExpectServesLastValues(ex), before);
  std::this_thread::sleep_for(seconds(1));
  const size_t taken = hogs.size();
  hogs.clear();
  const auto freed = SteadyClock::now();
  EXPECT_GE(ex.ExpectCaughtUp(db, seconds(20)), 0);
  std::cout << "[ figures  ] max_connections=20: " << taken << " connections taken by another client for "
            << std::chrono::duration<double>(freed - exhausted).count() << " s; caught up " << Since(freed)
            << " s after they were freed\n";
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM agent_runs"), "125");
}

TEST(FaultTest, TerminatedExporterConnectionsReconnectAndCountOnce) {
  if (NearMidnightUtc()) GTEST_SKIP() << "too close to 00:00 UTC, when the counters reset";
  PrivateCluster pg;
  testing::TestDb db("public", pg.url());
  testing::InsertWorkspacesAndAgents(db);
  InsertRunsNow(db, 150, 0.95);
  LiveExporter ex(db.url());
  ASSERT_GE(ex.ExpectCaughtUp(db, seconds(20)), 0);
  for (int round = 0; round < 3; ++round) {
    const auto old = ExporterBackends(db.url());
    ASSERT_GE(old.size(), 3u);
    const std::uint64_t errors_before = ex.Status("runs").errors;
    InsertRunsNow(db, 20, 0.96 + round / 1000.0);
    const std::string n = db.Scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE application_name LIKE 'agent_execution_exporter/%'");
    EXPECT_EQ(n, std::to_string(old.size()));
    InsertRunsNow(db, 20, 0.97 + round / 1000.0);
    const auto terminated = SteadyClock::now();
    ASSERT_GE(LiveExporter::WaitFor([&] { return ex.Status("runs").errors > errors_before; }, seconds(10)), 0);
    EXPECT_GE(ex.ExpectCaughtUp(db, seconds(20)), 0);
    const double recovered = Since(terminated);
    // The 200 ms collectors are back by now, each on one new backend (the slower
    // ones reconnect at their next cycle).
    const auto fresh = ExporterBackends(db.url());
    for (const char* name : {"runs", "realtime", "info"}) {
      ASSERT_EQ(fresh.count(name), 1u) << name;
      EXPECT_EQ(old.count(name), 1u) << name;
      EXPECT_NE(fresh.find(name)->second, old.find(name)->second) << name;
    }
    if (round == 0) {
      std::cout << "[ figures  ] pg_terminate_backend of " << old.size() << " sessions: caught up " << recovered
                << " s later\n";
    }
  }
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM agent_runs"), "270");
}

}  // namespace
}  // namespace aee
