// Sharding and workspace scope (issue #16): the documented hash, the snapshot
// filter, series counting, the label cap and the flags that set them.
#include "collectors/scope.h"

#include <gtest/gtest.h>

#include <sstream>

#include "collectors/label_cap.h"
#include "core/exposition.h"
#include "exporter/config.h"

namespace aee {
namespace {

using prometheus::MetricType;

// The worked example of docs/operations.md: printf %s ID | md5sum | cut -c1-8.
TEST(ShardTest, HashIsTheFirstFourBytesOfTheMd5OfTheIdText) {
  EXPECT_EQ(WorkspaceShardHash("3f2b8c4e-6a1d-4e7b-9c0f-5d8a2e1b7c94"), 0x88f065c1u);
  EXPECT_EQ(ShardOfWorkspace("3f2b8c4e-6a1d-4e7b-9c0f-5d8a2e1b7c94", 4), 1);  // 2297456065 % 4
  EXPECT_EQ(WorkspaceShardHash("11111111-1111-1111-1111-111111111111"), 0x38c6cbd2u);
  EXPECT_EQ(ShardOfWorkspace("11111111-1111-1111-1111-111111111111", 4), 2);
  EXPECT_EQ(ShardOfWorkspace("11111111-1111-1111-1111-111111111111", 3), 1);
  EXPECT_EQ(ShardOfWorkspace("11111111-1111-1111-1111-111111111111", 1), 0);
}

TEST(ShardTest, NoWorkspaceBelongsToShardZero) {
  EXPECT_EQ(ShardOfWorkspace("", 4), 0);
  EXPECT_EQ(ShardSql("w", ShardOptions{}), "TRUE");
  EXPECT_EQ(ShardSql("w", ShardOptions{4, 0}),
            "(w IS NULL OR (('x' || substr(md5(w::text), 1, 8))::bit(32)::bigint % 4 = 0))");
  EXPECT_EQ(ShardSql("w", ShardOptions{4, 3}), "(('x' || substr(md5(w::text), 1, 8))::bit(32)::bigint % 4 = 3)");
}

// Large reads test the shard's workspaces (the hash once per workspace) and fall
// back to the row's own hash only when its workspace has no workspaces row.
TEST(ShardTest, LargeReadsHashEachWorkspaceOnceAndFallBackToTheRowsHash) {
  EXPECT_EQ(WorkspaceShardSql("r.w", "\"s\"", ShardOptions{}), "TRUE");
  EXPECT_EQ(WorkspaceShardSql("r.w", "\"s\"", ShardOptions{4, 3}),
            "(EXISTS (SELECT 1 FROM (SELECT w.id FROM \"s\".workspaces w WHERE "
            "(('x' || substr(md5(w.id::text), 1, 8))::bit(32)::bigint % 4 = 3)) ow WHERE ow.id = r.w) OR "
            "(NOT EXISTS (SELECT 1 FROM \"s\".workspaces aw WHERE aw.id = r.w) AND "
            "(('x' || substr(md5(r.w::text), 1, 8))::bit(32)::bigint % 4 = 3)))");
  EXPECT_EQ(WorkspaceShardSql("r.w", "\"s\"", ShardOptions{2, 0}),
            "(r.w IS NULL OR EXISTS (SELECT 1 FROM (SELECT w.id FROM \"s\".workspaces w WHERE "
            "(('x' || substr(md5(w.id::text), 1, 8))::bit(32)::bigint % 2 = 0)) ow WHERE ow.id = r.w) OR "
            "(NOT EXISTS (SELECT 1 FROM \"s\".workspaces aw WHERE aw.id = r.w) AND "
            "(('x' || substr(md5(r.w::text), 1, 8))::bit(32)::bigint % 2 = 0)))");
  // Against a relation already holding the shard's ids (realtime's owned CTE).
  EXPECT_EQ(WorkspaceShardSql("w", "p", ShardOptions{4, 1}, "owned"),
            "(EXISTS (SELECT 1 FROM owned ow WHERE ow.id = w) OR "
            "(NOT EXISTS (SELECT 1 FROM p.workspaces aw WHERE aw.id = w) AND "
            "(('x' || substr(md5(w::text), 1, 8))::bit(32)::bigint % 4 = 1)))");
  EXPECT_EQ(OwnedWorkspacesSql("p", ShardOptions{4, 0}),
            "SELECT w.id FROM p.workspaces w WHERE (('x' || substr(md5(w.id::text), 1, 8))::bit(32)::bigint % 4 = 0)");
  EXPECT_EQ(OwnedWorkspacesSql("p", ShardOptions{}), "SELECT w.id FROM p.workspaces w WHERE TRUE");
}

TEST(ShardTest, EveryWorkspaceHasExactlyOneShard) {
  std::array<int, 4> per_shard{};
  for (int i = 0; i < 400; ++i) {
    char id[37];
    std::snprintf(id, sizeof id, "%08x-0000-4000-8000-%012x", i * 2654435761u, i);
    const int s = ShardOfWorkspace(id, 4);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 4);
    ++per_shard[static_cast<size_t>(s)];
  }
  for (int n : per_shard) EXPECT_GT(n, 60) << "a shard got far less than its quarter";
}

TEST(WorkspaceFilterTest, RegexesAreAnchoredAndMatchIdOrName) {
  WorkspaceFilter include("team-a|11111111-.*", "");
  EXPECT_TRUE(include.Admits("x", "team-a"));
  EXPECT_FALSE(include.Admits("x", "team-ab"));   // anchored at the end
  EXPECT_FALSE(include.Admits("x", "my-team-a"));  // and at the start
  EXPECT_TRUE(include.Admits("11111111-1111-1111-1111-111111111111", "other"));
  WorkspaceFilter both("team-.*", "team-b");
  EXPECT_TRUE(both.Admits("x", "team-a"));
  EXPECT_FALSE(both.Admits("x", "team-b"));  // exclude wins
  EXPECT_FALSE(both.Admits("x", "staging"));
  WorkspaceFilter none;
  EXPECT_FALSE(none.active());
  EXPECT_TRUE(none.Admits("x", ""));
  std::string error;
  EXPECT_FALSE(ValidWorkspaceRegex("team-(a", &error));
  EXPECT_FALSE(error.empty());
  EXPECT_TRUE(ValidWorkspaceRegex("team-(a|b)", &error));
}

Snapshot Sample() {
  static constexpr FamilySpec kPerWorkspace{"agent_runs_running", MetricType::Gauge, "h", {"workspace_id"}};
  static constexpr FamilySpec kPool{"agent_workers", MetricType::Gauge, "h", {"workspace_id", "state"}};
  static constexpr FamilySpec kPlain{"agent_runs_counting_since_timestamp_seconds", MetricType::Gauge, "h", {}};
  static constexpr FamilySpec kHist{"agent_run_duration_seconds", MetricType::Histogram, "h", {"workspace_id"}};
  FamilyBuilder per(kPerWorkspace), pool(kPool), plain(kPlain), hist(kHist);
  for (const char* ws : {"11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222",
                         "3f2b8c4e-6a1d-4e7b-9c0f-5d8a2e1b7c94"}) {
    per.Add({ws}, 1);
    ExactHistogram h(LatencyBuckets());
    h.Observe(2, 2000000);
    hist.AddHistogram({ws}, h.ToClient());
  }
  pool.Add({"", "idle"}, 3);  // the shared pool
  plain.Add({}, 1);
  return {per.Take(), pool.Take(), plain.Take(), hist.Take()};
}

// kWs1 -> shard 2 of 4, kWs2 -> shard 0, the docs' example -> shard 1.
TEST(ScopeSnapshotTest, KeepsTheShardsWorkspacesAndGivesTheSharedPoolToShardZero) {
  Snapshot s0 = Sample(), s1 = Sample(), s3 = Sample();
  ScopeSnapshot(s0, {4, 0}, WorkspaceFilter(), nullptr);
  ScopeSnapshot(s1, {4, 1}, WorkspaceFilter(), nullptr);
  ScopeSnapshot(s3, {4, 3}, WorkspaceFilter(), nullptr);
  ASSERT_EQ(s0[0].metric.size(), 1u);
  EXPECT_EQ(s0[0].metric[0].label[0].value, "22222222-2222-2222-2222-222222222222");
  EXPECT_EQ(s0[1].metric.size(), 1u);  // shared pool
  EXPECT_EQ(s0[2].metric.size(), 1u);  // no workspace label: every shard
  ASSERT_EQ(s1[0].metric.size(), 1u);
  EXPECT_EQ(s1[0].metric[0].label[0].value, "3f2b8c4e-6a1d-4e7b-9c0f-5d8a2e1b7c94");
  EXPECT_EQ(s1[1].metric.size(), 0u);
  EXPECT_EQ(s1[3].metric.size(), 1u);
  EXPECT_EQ(s3[0].metric.size(), 0u);
  EXPECT_EQ(s3[2].metric.size(), 1u);
}

TEST(ScopeSnapshotTest, IncludeAndExcludeUseTheNames) {
  std::map<std::string, std::string, std::less<>> names = {{"11111111-1111-1111-1111-111111111111", "team-a"},
                                                            {"22222222-2222-2222-2222-222222222222", "team-b"}};
  Snapshot s = Sample();
  ScopeSnapshot(s, {}, WorkspaceFilter("team-.*", "team-b"), &names);
  ASSERT_EQ(s[0].metric.size(), 1u);
  EXPECT_EQ(s[0].metric[0].label[0].value, "11111111-1111-1111-1111-111111111111");
  EXPECT_EQ(s[1].metric.size(), 1u);  // the shared pool is no workspace: kept
  EXPECT_EQ(s[3].metric.size(), 1u);
}

// agent_exporter_series counts what the exposition holds: one line per series.
TEST(ScopeLiveViewTest, ExcludedWorkspacesLeaveTheLiveViewToo) {
  auto view = std::make_shared<LiveView>();
  view->sampled_at_us = 42;
  for (const auto& [id, name] : {std::pair{"w1", "alpha"}, std::pair{"w2", "beta"}, std::pair{"w3", "gamma"}}) {
    LiveWorkspace ws;
    ws.id = id;
    ws.name = name;
    ws.running = 1;
    view->workspaces.emplace(id, ws);
  }
  std::shared_ptr<const LiveView> shared = view;
  // Without lists, or with lists that admit everyone, the view is passed on as is.
  EXPECT_EQ(ScopeLiveView(shared, WorkspaceFilter()).get(), shared.get());
  EXPECT_EQ(ScopeLiveView(shared, WorkspaceFilter("w.", "nobody")).get(), shared.get());
  // Excluded by id, and by name.
  auto by_id = ScopeLiveView(shared, WorkspaceFilter("", "w2"));
  ASSERT_NE(by_id.get(), shared.get());
  EXPECT_EQ(by_id->sampled_at_us, 42);
  EXPECT_EQ(by_id->workspaces.size(), 2u);
  EXPECT_FALSE(by_id->workspaces.contains("w2"));
  auto by_name = ScopeLiveView(shared, WorkspaceFilter("alpha|gamma", ""));
  EXPECT_EQ(by_name->workspaces.size(), 2u);
  EXPECT_TRUE(by_name->workspaces.contains("w1"));
  EXPECT_TRUE(by_name->workspaces.contains("w3"));
  EXPECT_EQ(by_name->workspaces.at("w3").running, 1);
  // The original is untouched (other subscribers may hold it).
  EXPECT_EQ(shared->workspaces.size(), 3u);
  EXPECT_EQ(ScopeLiveView(nullptr, WorkspaceFilter("", "w2")), nullptr);
}

TEST(CountSeriesTest, CountsTheLinesOfTheExposition) {
  const Snapshot s = Sample();
  std::istringstream text(SerializeText(s));
  std::uint64_t lines = 0;
  for (std::string line; std::getline(text, line);) {
    if (!line.empty() && line[0] != '#') ++lines;
  }
  EXPECT_EQ(CountSeries(s), lines);
  EXPECT_EQ(CountSeries(s), 3 + 1 + 1 + 3 * (LatencyBuckets().size() + 1 + 2));
}

TEST(LabelCapTest, AdmitsByFirstSeenThenNameWhateverTheOfferOrder) {
  LabelCap a(2), b(2);
  a.AdmitInOrder({{30, "z"}, {10, "y"}, {10, "x"}, {50, "w"}});
  b.AdmitInOrder({{50, "w"}, {10, "x"}, {30, "z"}, {10, "y"}});
  for (LabelCap* c : {&a, &b}) {
    EXPECT_TRUE(c->Named("x"));
    EXPECT_TRUE(c->Named("y"));
    EXPECT_EQ(c->Label("z"), "other");
    EXPECT_EQ(c->Label("new"), "other");
    EXPECT_EQ(c->Label("x"), "x");
    EXPECT_TRUE(c->full());
  }
  LabelCap unbounded(0);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(unbounded.Label(std::to_string(i)), std::to_string(i));
}

bool Parse(std::vector<std::string> args, Config* cfg, std::string* error) {
  return ParseFlags(args, [](const char*) -> const char* { return nullptr; }, cfg, error);
}

TEST(ScaleFlagsTest, ParsesShardsListsAndAgentLevers) {
  Config cfg;
  std::string error;
  ASSERT_TRUE(Parse({"--shard.count=4", "--shard.index=3", "--collector.workspaces.include=team-.*",
                     "--collector.workspaces.exclude", "team-b", "--collector.agents.max-per-workspace=20",
                     "--no-collector.agents.per-agent-label"},
                    &cfg, &error))
      << error;
  EXPECT_EQ(cfg.shard.count, 4);
  EXPECT_EQ(cfg.shard.index, 3);
  EXPECT_EQ(cfg.collector_options.workspaces_include, "team-.*");
  EXPECT_EQ(cfg.collector_options.workspaces_exclude, "team-b");
  EXPECT_EQ(cfg.collector_options.runs.max_agents_per_workspace, 20);
  EXPECT_FALSE(cfg.collector_options.runs.per_agent_label);
  Config defaults;
  ASSERT_TRUE(Parse({}, &defaults, &error));
  EXPECT_EQ(defaults.shard.count, 1);
  EXPECT_EQ(defaults.shard.index, 0);
  EXPECT_EQ(defaults.collector_options.runs.max_agents_per_workspace, 0);
  EXPECT_TRUE(defaults.collector_options.runs.per_agent_label);
}

TEST(ScaleFlagsTest, BadValuesNameTheFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--shard.count=0"}, "--shard.count: "},
      {{"--shard.count=x"}, "--shard.count: "},
      {{"--shard.index=-1"}, "--shard.index: "},
      {{"--shard.count=2", "--shard.index=2"}, "--shard.index: 2 is not below --shard.count=2"},
      {{"--shard.index=1"}, "--shard.index: 1 is not below --shard.count=1"},
      {{"--collector.workspaces.include=team-(a"}, "--collector.workspaces.include: invalid regular expression"},
      {{"--collector.workspaces.exclude=[z-a]"}, "--collector.workspaces.exclude: invalid regular expression"},
      {{"--collector.agents.max-per-workspace=-1"}, "--collector.agents.max-per-workspace: "},
      {{"--collector.agents.per-agent-label=maybe"}, "--collector.agents.per-agent-label: "},
      {{"--collector.agents.per-agent-label=false", "--collector.runs.agent-histograms"},
       "--collector.runs.agent-histograms: needs per-agent labels"},
  };
  for (const auto& [args, want] : cases) {
    Config cfg;
    std::string error;
    EXPECT_FALSE(Parse(args, &cfg, &error)) << args[0];
    EXPECT_EQ(error.rfind(want, 0), 0u) << error;
  }
}

}  // namespace
}  // namespace aee
