#include "collectors/realtime_collector.h"

#include <map>

#include <pqxx/pqxx>

#include "exporter/db.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kRunning{"agent_runs_running", MetricType::Gauge,
                              "Runs with status running.", {"workspace_id"}};
constexpr FamilySpec kQueueDepth{"agent_queue_depth", MetricType::Gauge,
                                 "Execution queue entries waiting (status queued).", {"workspace_id"}};
constexpr FamilySpec kQueueWaitAvg{"agent_queue_wait_seconds_avg", MetricType::Gauge,
                                   "Mean age of the waiting queue entries; 0 when none wait.",
                                   {"workspace_id"}};
constexpr FamilySpec kQueueOldest{"agent_queue_oldest_age_seconds", MetricType::Gauge,
                                  "Age of the oldest waiting queue entry; 0 when none wait.",
                                  {"workspace_id"}};
constexpr FamilySpec kElapsed{"agent_run_elapsed_seconds", MetricType::Gauge,
                              "Time since start of the longest-running runs of each workspace "
                              "(--collector.realtime.top-runs per workspace).",
                              {"workspace_id", "agent_id", "run_id"}};

constexpr FamilySpec kEstimated{"agent_run_estimated_runtime_seconds", MetricType::Gauge,
                                "estimated_runtime of the runs listed in agent_run_elapsed_seconds (when set).",
                                {"workspace_id", "agent_id", "run_id"}};
constexpr FamilySpec kOverdue{"agent_runs_overdue", MetricType::Gauge,
                              "Running runs that have run longer than --collector.realtime.overdue-factor "
                              "times their estimated_runtime.",
                              {"workspace_id"}};

constexpr std::array<FamilySpec, 7> kFamilies = {kRunning, kQueueDepth, kQueueWaitAvg, kQueueOldest,
                                                 kElapsed, kEstimated, kOverdue};

// Everything in one statement, so one round trip and one snapshot: running + queued
// never double-counts a run dispatched in between. The running rows are read once
// (a CTE used twice is materialized) for the counts and the longest-running list.
// Rows: ('w', workspace, running, overdue, queue depth, mean wait, oldest wait) for
// every workspace, then ('t', workspace, agent, run, elapsed, estimated) per listed run.
constexpr std::string_view kRealtimeSql = R"SQL(
WITH running AS (
  SELECT workspace_id, agent_id, run_id, started_at, estimated_runtime
  FROM {schema}.agent_runs
  WHERE status = 'running' AND workspace_id IS NOT NULL
), counts AS (
  SELECT workspace_id, count(*) AS n,
         count(*) FILTER (WHERE estimated_runtime > 0 AND started_at IS NOT NULL
                          AND isfinite(started_at)
                          AND extract(epoch FROM $1::timestamptz - started_at) > $2 * estimated_runtime) AS overdue
  FROM running GROUP BY 1
), queue AS (
  SELECT workspace_id, count(*) AS n,
         avg(greatest(extract(epoch FROM $1::timestamptz - queued_at), 0)) FILTER (WHERE isfinite(queued_at)) AS wait_avg,
         max(greatest(extract(epoch FROM $1::timestamptz - queued_at), 0)) FILTER (WHERE isfinite(queued_at)) AS oldest
  FROM {schema}.execution_queue
  WHERE status = 'queued' AND workspace_id IS NOT NULL GROUP BY 1
), top AS (
  SELECT workspace_id, agent_id, run_id, started_at, estimated_runtime,
         row_number() OVER (PARTITION BY workspace_id ORDER BY started_at, run_id) AS rank
  FROM running WHERE started_at IS NOT NULL
)
SELECT 'w', w.id::text, NULL::text, NULL::text,
       coalesce(c.n, 0)::float8, coalesce(c.overdue, 0)::float8,
       coalesce(q.n, 0)::float8, coalesce(q.wait_avg, 0)::float8, coalesce(q.oldest, 0)::float8
FROM {schema}.workspaces w
LEFT JOIN counts c ON c.workspace_id = w.id
LEFT JOIN queue q ON q.workspace_id = w.id
UNION ALL
SELECT 't', workspace_id::text, coalesce(agent_id::text, ''), run_id::text,
       CASE WHEN isfinite(started_at) THEN greatest(extract(epoch FROM $1::timestamptz - started_at), 0) ELSE 0 END::float8,
       estimated_runtime::float8, NULL, NULL, NULL
FROM top WHERE rank <= $3
)SQL";

struct QueueStats {
  double depth = 0;
  double wait_avg = 0;
  double oldest = 0;
};

}  // namespace

RealtimeCollector::RealtimeCollector(CollectorContext ctx, RealtimeCollectorOptions options)
    : ctx_(std::move(ctx)), options_(options), sql_(WithSchema(kRealtimeSql, ctx_.quoted_schema)) {}

std::span<const FamilySpec> RealtimeCollector::Families() { return kFamilies; }

Snapshot RealtimeCollector::Collect(DbSession& db) {
  const std::string now = FormatTimestampUs(ToUnixMicros(ctx_.clock->Now()));
  std::map<std::string, double> running;
  std::map<std::string, double> overdue;
  std::map<std::string, QueueStats> queue;
  pqxx::result rows;
  {
    // A single statement needs no transaction: a session-wide statement_timeout
    // saves the BEGIN, SET LOCAL and COMMIT round trips on a collector that runs at
    // every change, and a prepared statement its 3 ms of planning
    // (docs/benchmarks.md, "Freshness").
    db.Prepare("realtime", sql_);
    pqxx::nontransaction tx(db.Get(ctx_.timeout));
    rows = tx.exec_prepared("realtime", now, options_.overdue_factor, options_.top_runs);
  }
  for (const auto& row : rows) {
    if (row[0].c_str()[0] != 'w') continue;
    const std::string ws = row[1].as<std::string>();
    running[ws] = row[4].as<double>();
    overdue[ws] = row[5].as<double>();
    queue[ws] = {row[6].as<double>(), row[7].as<double>(), row[8].as<double>()};
  }

  FamilyBuilder running_f(kRunning), depth(kQueueDepth), wait(kQueueWaitAvg), oldest(kQueueOldest),
      elapsed(kElapsed), estimated(kEstimated), overdue_f(kOverdue);
  for (const auto& [ws, n] : running) running_f.Add({ws}, n);
  for (const auto& [ws, n] : overdue) overdue_f.Add({ws}, n);
  for (const auto& [ws, q] : queue) {
    depth.Add({ws}, q.depth);
    wait.Add({ws}, q.wait_avg);
    oldest.Add({ws}, q.oldest);
  }
  for (const auto& row : rows) {
    if (row[0].c_str()[0] != 't') continue;
    const std::string ws = row[1].as<std::string>();
    if (!running.contains(ws)) continue;  // workspace deleted: its series go away
    elapsed.Add({ws, row[2].c_str(), row[3].c_str()}, row[4].as<double>());
    if (!row[5].is_null() && row[5].as<double>() > 0) {
      estimated.Add({ws, row[2].c_str(), row[3].c_str()}, row[5].as<double>());
    }
  }
  Snapshot out;
  for (FamilyBuilder* b : {&running_f, &depth, &wait, &oldest, &elapsed, &estimated, &overdue_f}) {
    out.push_back(b->Take());
  }
  return out;
}

}  // namespace aee
