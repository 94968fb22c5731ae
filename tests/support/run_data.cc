#include "tests/support/run_data.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <thread>

#include <pqxx/pqxx>

#include "collectors/collector.h"
#include "core/db.h"
#include "tests/support/snapshot.h"

namespace aee::testing {

void InsertWorkspacesAndAgents(TestDb& db) {
  db.Exec(std::string("INSERT INTO workspaces VALUES ('") + kWs1 + "', 'Team A'), ('" + kWs2 + "', 'Team B');" +
          "INSERT INTO agents VALUES ('" + kAgent1 + "', '" + kWs1 + "', 'summarizer'), ('" + kAgent2 + "', '" +
          kWs1 + "', 'coder'), ('" + kAgent3 + "', '" + kWs2 + "', 'researcher');");
}

void InsertFinishedRuns(TestDb& db, int n, const std::string& lo, const std::string& hi, double seed) {
  db.Exec("SELECT setseed(" + std::to_string(seed) + ");" + R"SQL(
WITH agent_list AS (
  SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, workspace_id FROM agents
), p AS (
  SELECT i, random() AS u_agent, random() AS u_status, 1 - random() AS u1, random() AS u2,
         1 - random() AS u3, random() AS u4, random() AS u_fill, random() AS u_time
  FROM generate_series(1, )SQL" + std::to_string(n) + R"SQL() i
), g AS (
  SELECT p.*, a.id AS agent_id, a.workspace_id,
         CASE WHEN u_status < 0.80 THEN 'completed' WHEN u_status < 0.95 THEN 'failed' ELSE 'cancelled' END AS status,
         u_status < 0.98 AS started,
         exp(ln(8) + 1.0 * sqrt(-2 * ln(u1)) * cos(2 * pi() * u2)) AS rt,
         exp(ln(2) + 1.2 * sqrt(-2 * ln(u3)) * cos(2 * pi() * u4)) AS qw,
         ()SQL" + lo + ")::timestamptz + ((" + hi + ")::timestamptz - (" + lo + R"SQL()::timestamptz) * u_time AS f
  FROM p JOIN agent_list a ON a.k = floor(p.u_agent * (SELECT count(*) FROM agents))
)
INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, started_at, finished_at,
                        estimated_runtime, queue_wait_seconds, runtime_seconds, total_latency_seconds)
SELECT gen_random_uuid(), workspace_id, agent_id, 'user-' || (i % 7), status,
       f - make_interval(secs => CASE WHEN started THEN rt ELSE 0 END + qw),
       CASE WHEN started THEN f - make_interval(secs => rt) END,
       f, 10,
       CASE WHEN started AND u_fill < 0.9 THEN qw END,
       CASE WHEN started AND u_fill < 0.9 THEN rt END,
       CASE WHEN started AND u_fill < 0.9 THEN qw + rt END
FROM g
)SQL");
}

void ExpectRunsMatchSql(TestDb& db, const std::vector<prometheus::MetricFamily>& snapshot, const std::string& lo,
                        const std::string& hi) {
  const std::string range = "finished_at >= (" + lo + ")::timestamptz AND finished_at < (" + hi + ")::timestamptz";
  // Counts and runtime sums per agent and status.
  size_t checked = 0;
  for (const auto& row : db.Query(
           "SELECT workspace_id::text, agent_id::text, status, count(*), "
           "coalesce(sum(coalesce(runtime_seconds, extract(epoch FROM finished_at - started_at)::float8)), 0) "
           "FROM agent_runs WHERE " + range + " GROUP BY 1, 2, 3")) {
    const std::string ws = row[0].c_str(), agent = row[1].c_str(), status = row[2].c_str();
    EXPECT_EQ(Value(snapshot, "agent_runs_finished_total", {{"workspace_id", ws}, {"agent_id", agent}, {"status", status}}),
              row[3].as<double>())
        << ws << " " << agent << " " << status;
    ++checked;
  }
  EXPECT_GT(checked, 0u);
  for (const auto& row : db.Query(
           "SELECT workspace_id::text, agent_id::text, "
           "coalesce(sum(coalesce(runtime_seconds, extract(epoch FROM finished_at - started_at)::float8)), 0), count(*) "
           "FROM agent_runs WHERE " + range + " GROUP BY 1, 2")) {
    EXPECT_NEAR(Value(snapshot, "agent_run_runtime_seconds_total", {{"workspace_id", row[0].c_str()}, {"agent_id", row[1].c_str()}}),
                row[2].as<double>(), 1e-6 * row[3].as<double>() + 1e-6);
  }
  // Histograms: every bucket of every workspace.
  std::string bounds;
  for (double b : LatencyBuckets()) bounds += (bounds.empty() ? "" : ",") + std::to_string(b);
  const char* families[] = {"agent_run_queue_wait_seconds", "agent_run_duration_seconds", "agent_run_end_to_end_seconds"};
  std::map<std::string, std::map<double, std::array<std::uint64_t, 3>>> expected;
  std::map<std::string, std::array<double, 3>> sums;
  std::map<std::string, std::uint64_t> counts;
  for (const auto& row : db.Query(
           "WITH v AS (SELECT workspace_id::text AS ws, "
           " coalesce(queue_wait_seconds, extract(epoch FROM started_at - queued_at)::float8) AS qw, "
           " coalesce(runtime_seconds, extract(epoch FROM finished_at - started_at)::float8) AS rt, "
           " coalesce(total_latency_seconds, extract(epoch FROM finished_at - queued_at)::float8) AS e2e "
           " FROM agent_runs WHERE " + range + " AND started_at IS NOT NULL) "
           "SELECT ws, b, count(*) FILTER (WHERE qw <= b), count(*) FILTER (WHERE rt <= b), "
           " count(*) FILTER (WHERE e2e <= b), count(*), sum(qw), sum(rt), sum(e2e) "
           "FROM v, unnest(ARRAY[" + bounds + "]::float8[]) b GROUP BY ws, b")) {
    const std::string ws = row[0].c_str();
    expected[ws][row[1].as<double>()] = {row[2].as<std::uint64_t>(), row[3].as<std::uint64_t>(), row[4].as<std::uint64_t>()};
    counts[ws] = row[5].as<std::uint64_t>();
    sums[ws] = {row[6].as<double>(), row[7].as<double>(), row[8].as<double>()};
  }
  ASSERT_FALSE(expected.empty());
  for (const auto& [ws, by_bound] : expected) {
    for (int h = 0; h < 3; ++h) {
      auto m = Find(snapshot, families[h], {{"workspace_id", ws}});
      ASSERT_TRUE(m.has_value()) << families[h] << " " << ws;
      EXPECT_EQ(m->histogram.sample_count, counts[ws]) << families[h];
      EXPECT_NEAR(m->histogram.sample_sum, sums[ws][h], 1e-6 * static_cast<double>(counts[ws]) + 1e-6) << families[h];
      for (const auto& b : m->histogram.bucket) {
        auto it = by_bound.find(b.upper_bound);
        ASSERT_NE(it, by_bound.end()) << b.upper_bound;
        EXPECT_EQ(b.cumulative_count, it->second[h]) << families[h] << " " << ws << " le=" << b.upper_bound;
      }
    }
  }
}

void CheckStartupAndIncremental(TestDb& db, FakeClock& clock, Clock::time_point at, const std::string& table,
                                const std::string& rows, const std::function<std::unique_ptr<Collector>()>& make,
                                const std::function<void(const Snapshot&)>& check) {
  db.Exec(rows);
  clock.Set(at);
  {
    auto c = make();
    DbSession s(db.url(), "test");
    check(c->Collect(s));  // start-up aggregate
  }
  db.Exec("DELETE FROM " + table);
  clock.Set(at - std::chrono::seconds(60));
  auto c = make();
  DbSession s(db.url(), "test");
  c->Collect(s);
  db.Exec(rows);
  clock.Set(at + std::chrono::seconds(5));
  check(c->Collect(s));  // incremental reads
}

std::pair<Snapshot, Snapshot> CommitLateAfterNewerReads(TestDb& db, Collector& c, const std::string& late_sql,
                                                        const std::string& early_sql) {
  DbSession s(db.url(), "test");
  c.Collect(s);
  pqxx::connection writer(db.url());
  pqxx::work late(writer);
  late.exec(late_sql);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int i = 0; i < 3; ++i) {
    db.Exec(early_sql);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // more than the 2 s clock slack in total
    c.Collect(s);
  }
  late.commit();
  Snapshot first = c.Collect(s);
  Snapshot second = c.Collect(s);
  return {std::move(first), std::move(second)};
}

}  // namespace aee::testing
