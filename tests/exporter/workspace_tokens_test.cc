#include "exporter/workspace_tokens.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/web_config.h"

namespace aee {
namespace {

prometheus::MetricFamily Family(const std::string& name, std::vector<std::vector<std::pair<std::string, std::string>>> series) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = "h";
  f.type = prometheus::MetricType::Gauge;
  for (const auto& labels : series) {
    prometheus::ClientMetric m;
    for (const auto& [k, v] : labels) m.label.push_back({k, v});
    m.gauge.value = 1;
    f.metric.push_back(m);
  }
  return f;
}

TEST(WorkspaceTokensTest, ParsesAndRejectsBadFiles) {
  std::vector<WorkspaceToken> tokens;
  std::string err;
  const std::string hash = Sha256Hex("token-a");
  ASSERT_TRUE(ParseWorkspaceTokens("tokens:\n  - name: team-a\n    sha256: \"" + hash + "\"\n    workspaces: [\"w1\", \"w2\"]\n",
                                   &tokens, &err)) << err;
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0].workspaces.size(), 2u);
  for (const std::string& bad : std::vector<std::string>{"tokens: 3\n", "tokens:\n  - name: a\n    sha256: abc\n    workspaces: [w]\n",
                                "tokens:\n  - name: a\n    sha256: \"" + hash + "\"\n    workspaces: []\n",
                                "tokens:\n  - sha256: \"" + hash + "\"\n    workspaces: [w]\n",
                                "tokens:\n  - name: a\n    sha256: \"" + hash + "\"\n    workspaces: [w]\n    extra: 1\n",
                                "tokens:\n  - {name: a, sha256: \"" + hash + "\", workspaces: [w]}\n  - {name: b, sha256: \"" + hash + "\", workspaces: [v]}\n",
                                "tokens:\n  - {name: a, sha256: \"" + hash + "\", workspaces: [\"*\", w]}\n"}) {
    EXPECT_FALSE(ParseWorkspaceTokens(bad, &tokens, &err)) << bad;
    EXPECT_FALSE(err.empty());
  }
  ASSERT_TRUE(ParseWorkspaceTokens("tokens:\n  - {name: prometheus, sha256: \"" + hash + "\", workspaces: [\"*\"]}\n",
                                   &tokens, &err)) << err;
  EXPECT_TRUE(tokens[0].all_workspaces);
  EXPECT_TRUE(tokens[0].workspaces.empty());
}

TEST(WorkspaceTokensTest, StoreFindsByHashAndKeepsOldTokensOnBadReload) {
  auto path = std::filesystem::temp_directory_path() / ("aee-tokens-" + std::to_string(::getpid()) + ".yml");
  std::ofstream(path) << "tokens:\n  - name: team-a\n    sha256: \"" << Sha256Hex("token-a") << "\"\n    workspaces: [w1]\n";
  WorkspaceTokenStore store(path.string());
  std::string err;
  ASSERT_TRUE(store.Load(&err)) << err;
  ASSERT_TRUE(store.Find("token-a"));
  EXPECT_EQ(store.Find("token-a")->name, "team-a");
  EXPECT_FALSE(store.Find("token-b"));
  EXPECT_FALSE(store.Find(""));
  std::ofstream(path) << "tokens: [garbage";
  EXPECT_FALSE(store.Load(&err));
  EXPECT_TRUE(store.Find("token-a"));  // the previous set still answers
  std::ofstream(path) << "tokens:\n  - name: team-b\n    sha256: \"" << Sha256Hex("token-b") << "\"\n    workspaces: [w2]\n";
  ASSERT_TRUE(store.Load(&err)) << err;
  EXPECT_FALSE(store.Find("token-a"));
  EXPECT_TRUE(store.Find("token-b"));
  std::filesystem::remove(path);
  WorkspaceTokenStore directory(std::filesystem::temp_directory_path().string());
  EXPECT_FALSE(directory.Load(&err));
  EXPECT_NE(err.find("is a directory"), std::string::npos) << err;
}

TEST(WorkspaceTokensTest, FilterShowsOnlyOwnWorkspacesAndTenantFreeSelfMetrics) {
  std::vector<prometheus::MetricFamily> families = {
      Family("agent_runs_running", {{{"workspace_id", "w1"}}, {{"workspace_id", "w2"}}}),
      Family("agent_db_connections", {{{"state", "active"}}}),                  // platform-wide
      Family("agent_workers", {{{"pool", "shared"}}, {{"workspace_id", "w1"}, {"pool", "p"}}}),
      Family("agent_exporter_collector_up", {{{"collector", "runs"}}}),
      Family("process_open_fds", {{}}),
      // Issue #17: self-metrics that sum every tenant's volume.
      Family("agent_exporter_rows_read_total", {{{"collector", "runs"}, {"scan", "startup"}}}),
      Family("agent_exporter_ledger_entries", {{{"collector", "runs"}}}),
      Family("agent_exporter_notifications_total", {{}}),
      Family("agent_exporter_collector_duration_seconds_total", {{{"collector", "runs"}}}),
      Family("agent_workspace_info", {{{"workspace_id", "w2"}, {"name", "secret"}}}),
  };
  auto out = FilterForWorkspaces(families, {"w1"});
  std::vector<std::string> names;
  size_t series = 0;
  for (const auto& f : out) {
    names.push_back(f.name);
    series += f.metric.size();
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == "workspace_id") {
          EXPECT_EQ(l.value, "w1") << f.name;
        }
      }
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"agent_runs_running", "agent_workers", "agent_exporter_collector_up"}));
  EXPECT_EQ(series, 3u);
}

TEST(ConstantTimeEqualsTest, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace aee
