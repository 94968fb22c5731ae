// The exporter in-process: HTTP endpoints over a real PostgreSQL, and the docs check.
#include "exporter/app.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <crypt.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "core/web_config.h"
#include "tests/support/http_client.h"
#include "tests/support/run_data.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using testing::HttpGet;

class AppTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::InsertWorkspacesAndAgents(db_); }
  // The exporter on a free port with its collectors not started (RunOnce drives them).
  std::unique_ptr<Exporter> Start(const std::string& url, std::vector<std::string> flags = {}) {
    Config cfg;
    std::string err;
    flags.insert(flags.begin(), "--web.listen-address=127.0.0.1:0");
    EXPECT_TRUE(ParseFlags(flags, [](const char*) -> const char* { return nullptr; }, &cfg, &err)) << err;
    cfg.db_url = url;
    logger_.SetSinkForTest(&log_);
    auto e = std::make_unique<Exporter>(cfg, clock_, logger_);
    EXPECT_TRUE(e->Start(&err, /*start_collectors=*/false)) << err;
    return e;
  }
  testing::TestDb db_;
  SystemClock clock_;
  Logger logger_{LogLevel::kDebug, LogFormat::kLogfmt};
  std::string log_;
};

TEST_F(AppTest, ServesEveryEndpoint) {
  testing::InsertFinishedRuns(db_, 100, "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'", "now()", 0.3);
  auto e = Start(db_.url());
  const int port = e->port();
  ASSERT_GT(port, 0);

  auto ready = HttpGet(port, "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("\"runs\":{\"state\":\"starting\""), std::string::npos) << ready.body;
  for (size_t i = 0; i < e->scheduler().size(); ++i) ASSERT_TRUE(e->scheduler().RunOnce(i)) << log_;
  ready = HttpGet(port, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.headers["content-type"], "application/json");

  auto metrics = HttpGet(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("agent_runs_finished_total{"), std::string::npos);
  EXPECT_NE(metrics.body.find("agent_exporter_build_info{version=\"" AEE_VERSION "\""), std::string::npos);
  EXPECT_NE(metrics.body.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(metrics.body.find("agent_exporter_collector_up{collector=\"runs\"} 1"), std::string::npos);
  EXPECT_EQ(metrics.headers["content-length"], std::to_string(metrics.body.size()));

  auto gz = HttpGet(port, "/metrics", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(gz.headers["content-encoding"], "gzip");
  EXPECT_EQ(gz.headers["content-length"], std::to_string(gz.body.size()));
  const std::string unzipped = testing::Gunzip(gz.body);
  // Same families (process CPU and timings move between scrapes).
  EXPECT_NE(unzipped.find("agent_runs_finished_total{"), std::string::npos);

  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  auto landing = HttpGet(port, "/");
  EXPECT_EQ(landing.status, 200);
  for (const char* link : {"href=\"/metrics\"", "href=\"/healthz\"", "href=\"/readyz\""}) {
    EXPECT_NE(landing.body.find(link), std::string::npos) << link;
  }
  EXPECT_EQ(HttpGet(port, "/nope").status, 404);
  EXPECT_EQ(HttpGet(port, "/metrics", {}, "POST").status, 405);
  auto head = HttpGet(port, "/metrics", {}, "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
}

TEST_F(AppTest, DatabaseDownKeepsServingAndHidesThePassword) {
  // Nothing listens on port 1; the password must appear nowhere.
  auto e = Start("postgresql://app:hunter2@127.0.0.1:1/platform?connect_timeout=2");
  for (size_t i = 0; i < e->scheduler().size(); ++i) EXPECT_FALSE(e->scheduler().RunOnce(i));
  auto metrics = HttpGet(e->port(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("agent_exporter_collector_up{collector=\"runs\"} 0"), std::string::npos);
  EXPECT_NE(metrics.body.find("agent_exporter_collector_errors_total{collector=\"runs\"} 1"), std::string::npos);
  auto ready = HttpGet(e->port(), "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_NE(ready.body.find("\"realtime\":{\"state\":\"failing\""), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("last_error"), std::string::npos) << ready.body;
  for (const std::string& text : {metrics.body, ready.body, HttpGet(e->port(), "/").body, log_}) {
    EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  }
}

// Every family the exporter can expose, and every family a real scrape shows,
// is documented in docs/metrics.md.
// Privacy: user ids are never read into a series, run ids appear only in the capped
// longest-running list, and no self-metric carries query text.
TEST_F(AppTest, ExposesNoUserIdsAndNoQueryText) {
  testing::InsertFinishedRuns(db_, 50, "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'", "now()", 0.6);
  std::string running;
  for (int i = 0; i < 30; ++i) {
    running += std::string(running.empty() ? "" : ",") + "(gen_random_uuid(), '" + testing::kWs1 + "', '" +
               testing::kAgent1 + "', 'alice@example.com', 'running', now() - interval '1 min', now() - interval '" +
               std::to_string(i) + " s')";
  }
  db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, started_at) VALUES " +
           running);
  auto e = Start(db_.url());
  for (size_t i = 0; i < e->scheduler().size(); ++i) e->scheduler().RunOnce(i);
  const std::string body = HttpGet(e->port(), "/metrics").body;
  ASSERT_NE(body.find("agent_runs_running{"), std::string::npos);
  for (const char* secret : {"alice", "user-", "SELECT", "select ", "FROM "}) {
    EXPECT_EQ(body.find(secret), std::string::npos) << secret;
  }
  size_t run_series = 0;
  for (size_t pos = 0; (pos = body.find("agent_run_elapsed_seconds{", pos)) != std::string::npos; ++pos) ++run_series;
  EXPECT_EQ(run_series, 10u) << "--collector.realtime.top-runs caps run_id series per workspace";
}

TEST_F(AppTest, MetricsDocListsEveryFamily) {
  const std::string doc = testing::ReadSourceFile("docs/metrics.md");
  for (const auto& f : AllFamilies()) {
    EXPECT_NE(doc.find("`" + std::string(f.name) + "`"), std::string::npos) << f.name << " missing from docs/metrics.md";
  }
  auto e = Start(db_.url());
  for (size_t i = 0; i < e->scheduler().size(); ++i) ASSERT_TRUE(e->scheduler().RunOnce(i));
  const std::string body = HttpGet(e->port(), "/metrics").body;
  std::set<std::string> families;
  std::regex type_line("# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) ");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), type_line); it != std::sregex_iterator(); ++it) {
    families.insert((*it)[1]);
  }
  EXPECT_GT(families.size(), 20u);
  for (const auto& name : families) {
    EXPECT_NE(doc.find("`" + name + "`"), std::string::npos) << name << " missing from docs/metrics.md";
  }
}

}  // namespace
}  // namespace aee

namespace aee {
namespace {

// --web.workspace-tokens-file: a scoped bearer token sees its workspaces' series and
// the exporter's self-metrics only; an unknown token gets 401 on every endpoint, and
// so does a request without any credential (except /healthz); a "*" token sees all.
TEST_F(AppTest, WorkspaceTokenSeesOnlyItsWorkspaces) {
  testing::InsertFinishedRuns(db_, 60, "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'", "now()", 0.4);
  const std::string path = ::testing::TempDir() + "/tokens_" + std::to_string(getpid()) + ".yml";
  // sha256("team-a-secret")
  std::ofstream(path) << "tokens:\n  - name: team-a\n    sha256: \"9a437339f86986f3de68d17a40511c2e61588bb30f4c5e01ab5c4991a2a4dc41\"\n"
                      << "    workspaces: [\"" << testing::kWs1 << "\"]\n"
                      << "  - name: prometheus\n    sha256: \"" << Sha256Hex("operator-secret") << "\"\n"
                      << "    workspaces: [\"*\"]\n";
  auto e = Start(db_.url(), {"--web.workspace-tokens-file=" + path});
  for (size_t i = 0; i < e->scheduler().size(); ++i) e->scheduler().RunOnce(i);

  auto scoped = HttpGet(e->port(), "/metrics", {{"Authorization", "Bearer team-a-secret"}});
  ASSERT_EQ(scoped.status, 200);
  EXPECT_NE(scoped.body.find(std::string("workspace_id=\"") + testing::kWs1), std::string::npos);
  EXPECT_EQ(scoped.body.find(testing::kWs2), std::string::npos) << "another workspace leaked";
  EXPECT_NE(scoped.body.find("agent_exporter_collector_up{"), std::string::npos);
  EXPECT_EQ(scoped.body.find("agent_db_"), std::string::npos) << "platform-wide family leaked";
  // Issue #17: self-metrics that sum every tenant's volume stay with the operator.
  for (const char* leak : {"agent_exporter_rows_read_total", "agent_exporter_ledger_entries",
                           "agent_exporter_collector_duration_seconds", "process_cpu_seconds_total"}) {
    EXPECT_EQ(scoped.body.find(leak), std::string::npos) << leak << " shown to a scoped token";
  }
  for (const char* p : {"/metrics", "/", "/readyz", "/healthz"}) {
    EXPECT_EQ(HttpGet(e->port(), p, {{"Authorization", "Bearer wrong"}}).status, 401) << p;
  }
  EXPECT_EQ(log_.find("team-a-secret"), std::string::npos) << "token in the logs";
  for (const char* p : {"/metrics", "/", "/readyz"}) {
    auto anonymous = HttpGet(e->port(), p);
    EXPECT_EQ(anonymous.status, 401) << p;
    EXPECT_EQ(anonymous.body.find(testing::kWs1), std::string::npos) << p;
  }
  EXPECT_EQ(HttpGet(e->port(), "/healthz").status, 200);
  auto full = HttpGet(e->port(), "/metrics", {{"Authorization", "Bearer operator-secret"}});
  EXPECT_EQ(full.status, 200);
  EXPECT_NE(full.body.find(testing::kWs1), std::string::npos);
  EXPECT_NE(full.body.find(testing::kWs2), std::string::npos);
  EXPECT_NE(full.body.find("agent_db_"), std::string::npos);
  std::remove(path.c_str());
}

// Issue #17: /readyz showed the collectors' error text (SQL fragments, other
// tenants' data) to any valid token. A scoped token gets the states only.
TEST_F(AppTest, ScopedTokenSeesReadinessStatesWithoutErrorText) {
  const std::string path = ::testing::TempDir() + "/ready_tokens_" + std::to_string(getpid()) + ".yml";
  std::ofstream(path) << "tokens:\n  - name: team-a\n    sha256: \"" << Sha256Hex("team-a-secret") << "\"\n"
                      << "    workspaces: [\"" << testing::kWs1 << "\"]\n"
                      << "  - name: operator\n    sha256: \"" << Sha256Hex("operator-secret") << "\"\n"
                      << "    workspaces: [\"*\"]\n";
  auto e = Start("postgresql://app@127.0.0.1:1/platform?connect_timeout=2", {"--web.workspace-tokens-file=" + path});
  for (size_t i = 0; i < e->scheduler().size(); ++i) EXPECT_FALSE(e->scheduler().RunOnce(i));
  auto scoped = HttpGet(e->port(), "/readyz", {{"Authorization", "Bearer team-a-secret"}});
  EXPECT_EQ(scoped.status, 503);
  EXPECT_NE(scoped.body.find("\"realtime\":{\"state\":\"failing\""), std::string::npos) << scoped.body;
  EXPECT_EQ(scoped.body.find("last_error"), std::string::npos) << scoped.body;
  EXPECT_EQ(scoped.body.find("127.0.0.1"), std::string::npos) << scoped.body;
  auto operator_view = HttpGet(e->port(), "/readyz", {{"Authorization", "Bearer operator-secret"}});
  EXPECT_EQ(operator_view.status, 503);
  EXPECT_NE(operator_view.body.find("last_error"), std::string::npos) << operator_view.body;
  std::remove(path.c_str());
}

// With basic auth configured, a request that passed it (and carries no token) is the
// operator's: it sees everything; one that fails it never reaches the tokens.
TEST_F(AppTest, BasicAuthStandsInForATokenWhenBothAreConfigured) {
  const std::string dir = ::testing::TempDir() + "/basic_tokens_" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokens.yml") << "tokens:\n  - name: team-a\n    sha256: \"" << Sha256Hex("team-a-secret")
                                     << "\"\n    workspaces: [\"" << testing::kWs1 << "\"]\n";
  // bcrypt of "pw" (cost 4)
  char salt[] = "$2b$04$abcdefghijklmnopqrstuu";
  struct crypt_data data {};
  const std::string hash = crypt_r("pw", salt, &data);
  std::ofstream(dir + "/web.yml") << "basic_auth_users:\n  ops: \"" << hash << "\"\n";
  auto e = Start(db_.url(), {"--web.workspace-tokens-file=" + dir + "/tokens.yml", "--web.config.file=" + dir + "/web.yml"});
  for (size_t i = 0; i < e->scheduler().size(); ++i) e->scheduler().RunOnce(i);
  EXPECT_EQ(HttpGet(e->port(), "/metrics").status, 401);
  EXPECT_EQ(HttpGet(e->port(), "/metrics", {{"Authorization", "Basic b3BzOndyb25n"}}).status, 401);  // ops:wrong
  auto ops = HttpGet(e->port(), "/metrics", {{"Authorization", "Basic b3BzOnB3"}});                 // ops:pw
  EXPECT_EQ(ops.status, 200);
  EXPECT_NE(ops.body.find(testing::kWs2), std::string::npos);
  auto scoped = HttpGet(e->port(), "/metrics", {{"Authorization", "Bearer team-a-secret"}});
  EXPECT_EQ(scoped.status, 200);
  EXPECT_EQ(scoped.body.find(testing::kWs2), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace aee
