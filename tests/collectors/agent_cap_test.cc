// Bounded agent cardinality in the runs collector (issue #16): the per-workspace
// agent cap folding into agent_id="other", and per-agent labels switched off.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "collectors/runs_collector.h"
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
using testing::Ctx;
using testing::kAgent1;
using testing::kAgent2;
using testing::kAgent3;
using testing::kNoon;
using testing::kWs1;
using testing::kWs2;
using testing::Text;
using testing::Value;

const char* kAgent4 = "aaaaaaaa-0000-0000-0000-000000000004";
const char* kAgent5 = "aaaaaaaa-0000-0000-0000-000000000005";
const char* kAgent6 = "aaaaaaaa-0000-0000-0000-000000000006";

// n runs of agent in workspace, finished `ago` seconds before noon, one second apart.
std::string Runs(const char* workspace, const char* agent, const std::string& status, int n, int ago) {
  return std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
                     "SELECT gen_random_uuid(), '") +
         workspace + "', '" + agent + "', '" + status +
         "', f - interval '3 s', f - interval '2 s', f FROM (SELECT '2026-03-10 12:00:00+00'::timestamptz - "
         "make_interval(secs => " +
         std::to_string(ago) + " - i) AS f FROM generate_series(0, " + std::to_string(n - 1) + ") i) g;";
}

class AgentCapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InsertWorkspacesAndAgents(db_);
    db_.Exec(std::string("INSERT INTO agents VALUES ('") + kAgent4 + "', '" + kWs1 + "', 'a4'), ('" + kAgent5 + "', '" +
             kWs1 + "', 'a5'), ('" + kAgent6 + "', '" + kWs1 + "', 'a6')");
  }
  // Workspace 1 has five agents whose first runs of the day come in the order
  // 5, 2, 1, 4, 6; workspace 2 one agent.
  std::string Rows() const {
    return Runs(kWs1, kAgent5, "completed", 3, 50) + Runs(kWs1, kAgent2, "failed", 2, 45) +
           Runs(kWs1, kAgent1, "completed", 4, 40) + Runs(kWs1, kAgent4, "cancelled", 1, 35) +
           Runs(kWs1, kAgent6, "completed", 5, 30) + Runs(kWs1, kAgent5, "failed", 1, 20) +
           Runs(kWs2, kAgent3, "completed", 2, 25);
  }
  // Per workspace and status, the sum over the agent_id labels equals SQL's count.
  void ExpectSumsExact(const Snapshot& snap) {
    std::map<std::pair<std::string, std::string>, double> sums;
    for (const auto& f : snap) {
      if (f.name != "agent_runs_finished_total") continue;
      for (const auto& m : f.metric) {
        std::string ws, status;
        for (const auto& l : m.label) {
          if (l.name == "workspace_id") ws = l.value;
          if (l.name == "status") status = l.value;
        }
        sums[{ws, status}] += m.counter.value;
      }
    }
    size_t checked = 0;
    for (const auto& row : db_.Query("SELECT workspace_id::text, status, count(*) FROM agent_runs GROUP BY 1, 2")) {
      const std::pair<std::string, std::string> key(row[0].c_str(), row[1].c_str());
      EXPECT_EQ(sums[key], row[2].as<double>()) << key.first << " " << key.second;
      ++checked;
    }
    EXPECT_EQ(checked, 4u);
  }

  testing::TestDb db_;
  FakeClock clock_{kNoon};
};

TEST_F(AgentCapTest, AgentsPastTheCapFoldIntoOtherByFirstRunAndSumsStayExact) {
  RunsCollectorOptions opts;
  opts.max_agents_per_workspace = 2;
  auto check = [&](const Snapshot& snap) {
    // Named: the two agents with the earliest first run (5, then 2).
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent5}, {"status", "completed"}}), 3);
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent5}, {"status", "failed"}}), 1);
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent2}, {"status", "failed"}}), 2);
    // Agents 1, 4 and 6 are "other".
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", "other"}, {"status", "completed"}}), 9);
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", "other"}, {"status", "cancelled"}}), 1);
    EXPECT_EQ(Value(snap, "agent_run_runtime_seconds_total", {{"workspace_id", kWs1}, {"agent_id", "other"}}), 20);
    for (const char* folded : {kAgent1, kAgent4, kAgent6}) {
      EXPECT_FALSE(testing::Find(snap, "agent_runs_finished_total",
                                 {{"workspace_id", kWs1}, {"agent_id", folded}, {"status", "completed"}}))
          << folded;
    }
    // The cap is per workspace: workspace 2's only agent keeps its label.
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs2}, {"agent_id", kAgent3}, {"status", "completed"}}), 2);
    // 3 named-or-other labels in workspace 1 (5, 2, other), 1 in workspace 2: 3 statuses each.
    EXPECT_EQ(testing::SeriesCount(snap, "agent_runs_finished_total"), 12u);
    ExpectSumsExact(snap);
  };
  // The start-up aggregate and the incremental reads name the same agents.
  testing::CheckStartupAndIncremental(
      db_, clock_, kNoon, "agent_runs", Rows(), [&] { return std::make_unique<RunsCollector>(Ctx(clock_), opts); },
      check);
}

// Two replicas, one running since before the runs and one (re)started after them,
// expose the same series with the same values.
TEST_F(AgentCapTest, ReplicasAndRestartsNameTheSameAgents) {
  RunsCollectorOptions opts;
  opts.max_agents_per_workspace = 3;
  clock_.Set(kNoon - seconds(120));
  RunsCollector running(Ctx(clock_), opts);
  DbSession s1(db_.url(), "test");
  running.Collect(s1);
  // The runs arrive in two commits, read by two cycles; the earlier first runs first.
  db_.Exec(Runs(kWs1, kAgent5, "completed", 3, 50) + Runs(kWs1, kAgent2, "failed", 2, 45));
  clock_.Set(kNoon - seconds(42));
  running.Collect(s1);
  db_.Exec(Runs(kWs1, kAgent1, "completed", 4, 40) + Runs(kWs1, kAgent4, "cancelled", 1, 35) +
           Runs(kWs1, kAgent6, "completed", 5, 30) + Runs(kWs2, kAgent3, "completed", 2, 25));
  clock_.Set(kNoon);
  const Snapshot a = running.Collect(s1);

  RunsCollector restarted(Ctx(clock_), opts);
  DbSession s2(db_.url(), "test");
  const Snapshot b = restarted.Collect(s2);
  EXPECT_EQ(Text(a, "agent_runs_finished_total"), Text(b, "agent_runs_finished_total"));
  EXPECT_EQ(Text(a, "agent_run_runtime_seconds_total"), Text(b, "agent_run_runtime_seconds_total"));
  EXPECT_EQ(Text(a, "agent_run_duration_seconds"), Text(b, "agent_run_duration_seconds"));
  EXPECT_EQ(Value(b, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", kAgent1}, {"status", "completed"}}), 4);
  EXPECT_EQ(Value(b, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", "other"}, {"status", "completed"}}), 5);
  ExpectSumsExact(a);
  ExpectSumsExact(b);
}

TEST_F(AgentCapTest, WithoutPerAgentLabelsTheCountersArePerWorkspace) {
  RunsCollectorOptions opts;
  opts.per_agent_label = false;
  opts.agent_histograms = true;  // turned off: there is no agent label to add
  auto check = [&](const Snapshot& snap) {
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"status", "completed"}}), 12);
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"status", "failed"}}), 3);
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"status", "cancelled"}}), 1);
    EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs2}, {"status", "completed"}}), 2);
    EXPECT_EQ(Value(snap, "agent_run_runtime_seconds_total", {{"workspace_id", kWs1}}), 32);
    EXPECT_EQ(testing::SeriesCount(snap, "agent_runs_finished_total"), 6u);
    EXPECT_EQ(testing::SeriesCount(snap, "agent_run_duration_seconds"), 2u);
    EXPECT_EQ(Text(snap, "agent_run").find("agent_id"), std::string::npos);
    ExpectSumsExact(snap);
  };
  testing::CheckStartupAndIncremental(
      db_, clock_, kNoon, "agent_runs", Rows(), [&] { return std::make_unique<RunsCollector>(Ctx(clock_), opts); },
      check);
}

// Known agents are shown at 0 before their first run only when the cap leaves them
// a label: named agents, or "other" once the workspace is full.
TEST_F(AgentCapTest, AgentsWithoutRunsDoNotGrowPastTheCap) {
  RunsCollectorOptions opts;
  opts.max_agents_per_workspace = 1;
  db_.Exec(Runs(kWs1, kAgent2, "completed", 1, 50));
  RunsCollector c(Ctx(clock_), opts);
  DbSession s(db_.url(), "test");
  const Snapshot snap = c.Collect(s);
  // Workspace 1: agent 2 (named) and other (agents 1, 4, 5, 6 at 0); workspace 2:
  // its agent has no run and the workspace has room, so nothing yet.
  EXPECT_EQ(testing::SeriesCount(snap, "agent_runs_finished_total"), 6u);
  EXPECT_EQ(Value(snap, "agent_runs_finished_total", {{"workspace_id", kWs1}, {"agent_id", "other"}, {"status", "completed"}}), 0);
  EXPECT_FALSE(testing::Find(snap, "agent_runs_finished_total",
                             {{"workspace_id", kWs2}, {"agent_id", kAgent3}, {"status", "completed"}}));
}

}  // namespace
}  // namespace aee
