// Sharded exporters against a real PostgreSQL (issue #16): the union of N shards'
// expositions equals one unsharded exporter's, series for series and value for
// value, after start-up, after live load with a late commit, and after one shard
// restarts; the workspace lists and the agent cap keep that exactness.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <thread>

#include <pqxx/pqxx>

#include "collectors/scope.h"
#include "exporter/app.h"
#include "tests/support/fake_clock.h"
#include "tests/support/run_data.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::milliseconds;

constexpr int kWorkspaces = 12;

class ShardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 12 workspaces of 3 agents; finished runs, running runs and waiting queue
    // entries in each; workers per workspace and in the shared pool; model calls;
    // a finished run without a workspace (shard 0's to skip).
    db_.Exec("INSERT INTO workspaces SELECT md5('ws' || w)::uuid, 'Team ' || w FROM generate_series(1, " +
             std::to_string(kWorkspaces) +
             ") w;"
             "INSERT INTO agents SELECT md5('ag' || w || '-' || a)::uuid, md5('ws' || w)::uuid, 'agent ' || a "
             "FROM generate_series(1, " + std::to_string(kWorkspaces) + ") w, generate_series(1, 3) a;");
    testing::InsertFinishedRuns(db_, 900, "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
                                "now() - interval '5 s'", 0.16);
    db_.Exec(R"SQL(
SELECT setseed(0.5);
INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, estimated_runtime)
SELECT gen_random_uuid(), workspace_id, id, 'running', now() - interval '5 min', now() - random() * interval '4 min', 60
FROM agents, generate_series(1, 2);
INSERT INTO execution_queue (queue_id, workspace_id, agent_id, priority, status, queued_at)
SELECT gen_random_uuid(), workspace_id, id, (random() * 3)::int, 'queued', now() - random() * interval '2 min'
FROM agents WHERE random() < 0.7;
INSERT INTO workers (worker_id, workspace_id, status, capacity, cpu_percent, memory_percent, last_heartbeat)
SELECT 'w-' || id, id, CASE WHEN random() < 0.5 THEN 'busy' ELSE 'idle' END, 4, random() * 100, random() * 100, now()
FROM workspaces;
INSERT INTO workers (worker_id, workspace_id, status, capacity, cpu_percent, last_heartbeat)
SELECT 'shared-' || i, NULL, 'busy', 8, 40 + i, now() FROM generate_series(1, 3) i;
INSERT INTO model_calls (workspace_id, agent_id, model, prompt_tokens, completion_tokens, latency_seconds, cost_usd, created_at)
SELECT workspace_id, id, CASE WHEN random() < 0.5 THEN 'gpt-x' ELSE 'claude-y' END, 100, 20, random() * 3, 0.002,
       now() - random() * interval '30 min'
FROM agents, generate_series(1, 4);
INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at)
VALUES (gen_random_uuid(), NULL, NULL, 'completed', now() - interval '3 s', now() - interval '2 s', now() - interval '1 s');
)SQL");
  }

  std::unique_ptr<Exporter> Make(std::vector<std::string> flags) {
    Config cfg;
    std::string err;
    for (const char* f : {"--web.listen-address=127.0.0.1:0", "--no-collector.database", "--api.enabled=false"}) {
      flags.insert(flags.begin(), f);
    }
    EXPECT_TRUE(ParseFlags(flags, [](const char*) -> const char* { return nullptr; }, &cfg, &err)) << err;
    cfg.db_url = db_.url();
    auto e = std::make_unique<Exporter>(cfg, clock_, logger_);
    EXPECT_TRUE(e->Start(&err, /*start_collectors=*/false)) << err;
    return e;
  }
  std::unique_ptr<Exporter> Shard(int index, int count, std::vector<std::string> flags = {}) {
    flags.push_back("--shard.count=" + std::to_string(count));
    flags.push_back("--shard.index=" + std::to_string(index));
    return Make(std::move(flags));
  }

  // One cycle of every collector of every exporter at the same instant, with no
  // commit in between: they all read the same database state at the same "now".
  void Round(const std::vector<Exporter*>& exporters) {
    clock_.Set(std::chrono::system_clock::now());
    for (Exporter* e : exporters) {
      for (size_t i = 0; i < e->scheduler().size(); ++i) ASSERT_TRUE(e->scheduler().RunOnce(i)) << i;
    }
  }

  // The exposition without the exporters' own metrics (timings, rows read, shard
  // identity) and process metrics: one line per series.
  static std::set<std::string> Series(const Exporter& e) {
    std::set<std::string> out;
    std::istringstream text(e.MetricsText());
    for (std::string line; std::getline(text, line);) {
      if (line.empty() || line[0] == '#' || line.rfind("agent_exporter_", 0) == 0 || line.rfind("process_", 0) == 0) {
        continue;
      }
      EXPECT_TRUE(out.insert(line).second) << "repeated: " << line;
    }
    return out;
  }

  // The sum of agent_runs_finished_total over every series.
  static double FinishedRuns(const Exporter& e) {
    double sum = 0;
    for (const std::string& line : Series(e)) {
      if (line.rfind("agent_runs_finished_total{", 0) == 0) sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  // The union of the shards equals the whole; a series with a workspace is exposed
  // by exactly one shard (its hash's), and every shard owns some.
  static void ExpectUnionIsTheWhole(const Exporter& whole, const std::vector<Exporter*>& shards, const char* when) {
    SCOPED_TRACE(when);
    const std::set<std::string> expected = Series(whole);
    std::set<std::string> all;
    std::map<std::string, int> owners;
    for (size_t s = 0; s < shards.size(); ++s) {
      size_t owned = 0;
      for (const std::string& line : Series(*shards[s])) {
        all.insert(line);
        const size_t at = line.find("workspace_id=\"");
        if (at == std::string::npos) continue;
        const std::string ws = line.substr(at + 14, line.find('"', at + 14) - at - 14);
        EXPECT_EQ(ShardOfWorkspace(ws, static_cast<int>(shards.size())), static_cast<int>(s)) << line;
        ++owners[line];
        ++owned;
      }
      EXPECT_GT(owned, 0u) << "shard " << s << " owns nothing";
    }
    for (const auto& [line, n] : owners) EXPECT_EQ(n, 1) << line;
    int shown = 0;
    for (const auto& line : expected) {
      if (all.count(line) == 0 && ++shown <= 10) ADD_FAILURE() << "missing from the shards: " << line;
    }
    for (const auto& line : all) {
      if (expected.count(line) == 0 && ++shown <= 20) ADD_FAILURE() << "only in the shards: " << line;
    }
    EXPECT_EQ(all.size(), expected.size());
    EXPECT_GT(expected.size(), 1000u);  // a real exposition, not an empty one
  }

  testing::TestDb db_;
  FakeClock clock_{std::chrono::system_clock::now()};
  Logger logger_{LogLevel::kWarn, LogFormat::kLogfmt};
};

TEST_F(ShardTest, UnionOfShardsEqualsOneExporterAfterStartLateCommitsAndARestart) {
  auto whole = Make({});
  auto a0 = Shard(0, 2), a1 = Shard(1, 2);
  auto b0 = Shard(0, 3), b1 = Shard(1, 3), b2 = Shard(2, 3);
  auto everyone = [&] { return std::vector<Exporter*>{whole.get(), a0.get(), a1.get(), b0.get(), b1.get(), b2.get()}; };

  Round(everyone());
  Round(everyone());  // the patterns history that start-up leaves for later
  ExpectUnionIsTheWhole(*whole, {a0.get(), a1.get()}, "start-up, 2 shards");
  ExpectUnionIsTheWhole(*whole, {b0.get(), b1.get(), b2.get()}, "start-up, 3 shards");
  // The shard identity.
  EXPECT_NE(b2->MetricsText().find("agent_exporter_shard_info{index=\"2\",count=\"3\"} 1"), std::string::npos);
  EXPECT_NE(whole->MetricsText().find("agent_exporter_shard_info{index=\"0\",count=\"1\"} 1"), std::string::npos);

  // Live load: runs finishing in every workspace, while one transaction stamped
  // with the database clock commits late, after newer runs were read.
  const std::string finish =
      "INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
      "SELECT gen_random_uuid(), workspace_id, id, 'completed', now() - interval '3 s', now() - interval '2 s', ";
  pqxx::connection writer(db_.url());
  pqxx::work late(writer);
  late.exec(finish + "now() FROM agents WHERE name = 'agent 2'");
  std::this_thread::sleep_for(milliseconds(1500));
  for (int i = 0; i < 2; ++i) {
    db_.Exec(finish + "clock_timestamp() FROM agents WHERE name <> 'agent 2';"
             "UPDATE execution_queue SET status = 'dispatched' WHERE queue_id IN "
             "(SELECT queue_id FROM execution_queue WHERE status = 'queued' ORDER BY queue_id LIMIT 3)");
    std::this_thread::sleep_for(milliseconds(1200));  // more than the 2 s clock slack in total
    Round(everyone());
  }
  late.commit();
  Round(everyone());
  ExpectUnionIsTheWhole(*whole, {a0.get(), a1.get()}, "late commit, 2 shards");
  ExpectUnionIsTheWhole(*whole, {b0.get(), b1.get(), b2.get()}, "late commit, 3 shards");
  // And the whole counts every run, the late ones included (so do the shards, above).
  EXPECT_EQ(FinishedRuns(*whole), 900 + 12 + 2 * 24);
  EXPECT_EQ(db_.Scalar("SELECT count(*) FROM agent_runs WHERE finished_at IS NOT NULL AND workspace_id IS NOT NULL"),
            std::to_string(900 + 12 + 2 * 24));

  // One shard restarts: it counts the day again from the database and agrees.
  b1.reset();
  db_.Exec(finish + "clock_timestamp() FROM agents WHERE name = 'agent 3'");
  Round({whole.get(), a0.get(), a1.get(), b0.get(), b2.get()});
  b1 = Shard(1, 3);
  Round(everyone());
  Round(everyone());
  ExpectUnionIsTheWhole(*whole, {a0.get(), a1.get()}, "after a restart, 2 shards");
  ExpectUnionIsTheWhole(*whole, {b0.get(), b1.get(), b2.get()}, "after a restart, 3 shards");
}

// The shard predicate of the large reads tests a row's workspace against the
// workspaces table (the hash once per workspace) and falls back to the row's own
// hash when its workspace has no row there (the reference schema has no foreign key
// from runs, queue, workers or model calls to workspaces). Such rows, and the rows
// of a workspace created after start-up, are read by exactly one shard: the union
// equals the whole, and the rows each collector read add up to the whole's (a row
// read twice, or by no shard, would change the sum even where the exposition
// filter hides it).
TEST_F(ShardTest, RowsOfUnlistedAndNewWorkspacesAreReadByExactlyOneShard) {
  // 8 workspace ids with no workspaces row (nor agents rows).
  const std::string orphans = "SELECT md5('orphan' || o)::uuid AS ws, md5('orphan-agent' || o)::uuid AS ag "
                              "FROM generate_series(1, 8) o";
  const std::string finish =
      "INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
      "SELECT gen_random_uuid(), ws, ag, 'completed', now() - interval '3 s', now() - interval '2 s', ";
  db_.Exec(finish + "clock_timestamp() - interval '10 s' FROM (" + orphans + ") o, generate_series(1, 5);"
           "INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, estimated_runtime) "
           "SELECT gen_random_uuid(), ws, ag, 'running', now() - interval '5 min', now() - interval '1 min', 60 "
           "FROM (" + orphans + ") o, generate_series(1, 2);"
           "INSERT INTO execution_queue (queue_id, workspace_id, agent_id, priority, status, queued_at) "
           "SELECT gen_random_uuid(), ws, ag, 1, 'queued', now() - interval '30 s' FROM (" + orphans + ") o;"
           "INSERT INTO workers (worker_id, workspace_id, status, capacity, last_heartbeat) "
           "SELECT 'o-' || ws, ws, 'busy', 2, now() FROM (" + orphans + ") o;"
           "INSERT INTO model_calls (workspace_id, agent_id, model, prompt_tokens, completion_tokens, latency_seconds, "
           "cost_usd, created_at) SELECT ws, ag, 'gpt-x', 10, 2, 0.5, 0.001, now() - interval '1 min' "
           "FROM (" + orphans + ") o, generate_series(1, 3);");
  std::set<std::string> orphan_ids;
  for (const auto& row : db_.Query("SELECT ws::text FROM (" + orphans + ") o")) orphan_ids.insert(row[0].c_str());

  auto whole = Make({});
  auto a0 = Shard(0, 2), a1 = Shard(1, 2);
  auto b0 = Shard(0, 4), b1 = Shard(1, 4), b2 = Shard(2, 4), b3 = Shard(3, 4);
  const std::vector<Exporter*> all = {whole.get(), a0.get(), a1.get(), b0.get(), b1.get(), b2.get(), b3.get()};
  const std::vector<Exporter*> two = {a0.get(), a1.get()}, four = {b0.get(), b1.get(), b2.get(), b3.get()};
  // The rows a collector read, by scan, summed over exporters.
  auto rows_read = [](const std::vector<Exporter*>& exporters, const std::string& collector, const std::string& scan) {
    double sum = 0;
    for (const Exporter* e : exporters) {
      std::istringstream text(e->MetricsText());
      for (std::string line; std::getline(text, line);) {
        if (line.rfind("agent_exporter_rows_read_total{", 0) == 0 &&
            line.find("collector=\"" + collector + "\"") != std::string::npos &&
            line.find("scan=\"" + scan + "\"") != std::string::npos) {
          sum += std::stod(line.substr(line.rfind(' ') + 1));
        }
      }
    }
    return sum;
  };
  auto expect_rows_divide = [&](const char* when) {
    SCOPED_TRACE(when);
    for (const char* collector : {"runs", "models"}) {
      for (const char* scan : {"startup", "incremental"}) {
        const double one = rows_read({whole.get()}, collector, scan);
        EXPECT_EQ(rows_read(two, collector, scan), one) << collector << " " << scan << ", 2 shards";
        EXPECT_EQ(rows_read(four, collector, scan), one) << collector << " " << scan << ", 4 shards";
      }
    }
  };
  // Series of the unlisted workspaces in the whole: the shards must expose them too.
  auto orphan_series = [&](const Exporter& e) {
    int n = 0;
    for (const std::string& line : Series(e)) {
      const size_t at = line.find("workspace_id=\"");
      if (at != std::string::npos && orphan_ids.count(line.substr(at + 14, 36)) != 0) ++n;
    }
    return n;
  };

  Round(all);
  Round(all);
  EXPECT_GT(orphan_series(*whole), 8 * 3);  // finished runs, model calls and workers of each, at least
  // The 8 ids spread over the 4 shards (not all on one, which would test less).
  std::set<int> orphan_shards;
  for (const auto& id : orphan_ids) orphan_shards.insert(ShardOfWorkspace(id, 4));
  EXPECT_GE(orphan_shards.size(), 3u);
  EXPECT_GE(rows_read({whole.get()}, "runs", "startup"), 900 + 1 + 8 * 5);
  ExpectUnionIsTheWhole(*whole, two, "unlisted workspaces, 2 shards");
  ExpectUnionIsTheWhole(*whole, four, "unlisted workspaces, 4 shards");
  expect_rows_divide("start-up");

  // After start-up: half of the unlisted workspaces get their workspaces row (their
  // rows move from the fallback to the per-workspace test), a new workspace appears
  // with agents, and runs and model calls finish in all of them.
  db_.Exec("INSERT INTO workspaces SELECT ws, 'Adopted ' || ws FROM (" + orphans + ") o "
           "WHERE ws IN (SELECT md5('orphan' || o)::uuid FROM generate_series(1, 4) o);"
           "INSERT INTO workspaces VALUES (md5('ws-new')::uuid, 'Team new');"
           "INSERT INTO agents SELECT md5('ag-new' || a)::uuid, md5('ws-new')::uuid, 'agent ' || a "
           "FROM generate_series(1, 3) a;");
  db_.Exec(finish + "clock_timestamp() FROM (" + orphans + " UNION ALL SELECT workspace_id, id FROM agents) o;"
           "INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, estimated_runtime) "
           "SELECT gen_random_uuid(), workspace_id, id, 'running', now() - interval '1 min', now() - interval '30 s', 60 "
           "FROM agents WHERE workspace_id = md5('ws-new')::uuid;"
           "INSERT INTO model_calls (workspace_id, agent_id, model, prompt_tokens, completion_tokens, latency_seconds, "
           "cost_usd, created_at) SELECT workspace_id, id, 'claude-y', 7, 1, 0.2, 0.001, clock_timestamp() "
           "FROM agents WHERE workspace_id = md5('ws-new')::uuid;");
  std::this_thread::sleep_for(milliseconds(1200));
  Round(all);
  Round(all);
  ExpectUnionIsTheWhole(*whole, two, "new and adopted workspaces, 2 shards");
  ExpectUnionIsTheWhole(*whole, four, "new and adopted workspaces, 4 shards");
  expect_rows_divide("incremental");
  EXPECT_GT(rows_read({whole.get()}, "runs", "incremental"), 0);
  const std::string finished =
      db_.Scalar("SELECT count(*) FROM agent_runs WHERE finished_at IS NOT NULL AND workspace_id IS NOT NULL");
  EXPECT_EQ(FinishedRuns(*whole), std::stod(finished));
  double sharded = 0;
  for (const Exporter* e : four) sharded += FinishedRuns(*e);
  EXPECT_EQ(sharded, std::stod(finished));
  const std::string text = whole->MetricsText();
  EXPECT_NE(text.find(db_.Scalar("SELECT md5('ws-new')::uuid::text")), std::string::npos);
}

// The per-workspace agent cap decides within a workspace, so shards agree with
// the whole under it too.
TEST_F(ShardTest, AgentCapAgreesAcrossShards) {
  const std::vector<std::string> cap = {"--collector.agents.max-per-workspace=2"};
  auto whole = Make(cap);
  auto s0 = Shard(0, 2, cap), s1 = Shard(1, 2, cap);
  Round({whole.get(), s0.get(), s1.get()});
  Round({whole.get(), s0.get(), s1.get()});
  ExpectUnionIsTheWhole(*whole, {s0.get(), s1.get()}, "agent cap, 2 shards");
  const std::string text = whole->MetricsText();
  EXPECT_NE(text.find("agent_id=\"other\""), std::string::npos);
}

TEST_F(ShardTest, IncludeAndExcludeListsKeepExactlyTheirWorkspaces) {
  auto whole = Make({});
  // Names "Team 1" and "Team 10" to "Team 12", minus "Team 11"; and one id.
  const std::string extra_id = db_.Scalar("SELECT md5('ws3')::uuid::text");
  auto listed = Make({"--collector.workspaces.include=Team 1.*|" + extra_id, "--collector.workspaces.exclude=Team 11"});
  Round({whole.get(), listed.get()});
  Round({whole.get(), listed.get()});
  std::set<std::string> admitted;
  for (const auto& row : db_.Query("SELECT id::text FROM workspaces WHERE name IN ('Team 1', 'Team 10', 'Team 12', 'Team 3')")) {
    admitted.insert(row[0].c_str());
  }
  ASSERT_EQ(admitted.size(), 4u);
  std::set<std::string> expected;
  for (const std::string& line : Series(*whole)) {
    const size_t at = line.find("workspace_id=\"");
    if (at == std::string::npos) {
      expected.insert(line);
      continue;
    }
    const std::string ws = line.substr(at + 14, line.find('"', at + 14) - at - 14);
    if (ws.empty() || admitted.count(ws) != 0) expected.insert(line);
  }
  EXPECT_EQ(Series(*listed), expected);
  // agent_exporter_series counts what is left: fewer series than the whole.
  auto series_of = [](const Exporter& e) {
    const std::string text = e.MetricsText();
    const std::string key = "agent_exporter_series{collector=\"runs\"} ";
    const size_t at = text.find(key);
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + key.size()));
  };
  EXPECT_GT(series_of(*listed), 0);
  EXPECT_LT(series_of(*listed), series_of(*whole));
}

}  // namespace
}  // namespace aee
