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

constexpr std::string_view kWorkspacesSql = "SELECT id::text FROM {schema}.workspaces";
constexpr std::string_view kRunningSql = R"SQL(
SELECT workspace_id::text, count(*),
       count(*) FILTER (WHERE estimated_runtime > 0 AND started_at IS NOT NULL
                        AND isfinite(started_at)
                        AND extract(epoch FROM $1::timestamptz - started_at) > $2 * estimated_runtime)
FROM {schema}.agent_runs
WHERE status = 'running' AND workspace_id IS NOT NULL GROUP BY 1
)SQL";
constexpr std::string_view kQueueSql = R"SQL(
SELECT workspace_id::text, count(*),
       coalesce(avg(greatest(extract(epoch FROM $1::timestamptz - queued_at), 0)) FILTER (WHERE isfinite(queued_at)), 0)::float8,
       coalesce(max(greatest(extract(epoch FROM $1::timestamptz - queued_at), 0)) FILTER (WHERE isfinite(queued_at)), 0)::float8
FROM {schema}.execution_queue
WHERE status = 'queued' AND workspace_id IS NOT NULL GROUP BY 1
)SQL";
constexpr std::string_view kTopRunsSql = R"SQL(
SELECT workspace_id::text, coalesce(agent_id::text, ''), run_id::text,
       CASE WHEN isfinite(started_at) THEN greatest(extract(epoch FROM $1::timestamptz - started_at), 0) ELSE 0 END::float8,
       estimated_runtime
FROM (SELECT workspace_id, agent_id, run_id, started_at, estimated_runtime,
             row_number() OVER (PARTITION BY workspace_id ORDER BY started_at, run_id) AS rank
      FROM {schema}.agent_runs
      WHERE status = 'running' AND workspace_id IS NOT NULL AND started_at IS NOT NULL) t
WHERE rank <= $2
)SQL";

struct QueueStats {
  double depth = 0;
  double wait_avg = 0;
  double oldest = 0;
};

}  // namespace

RealtimeCollector::RealtimeCollector(CollectorContext ctx, RealtimeCollectorOptions options)
    : ctx_(std::move(ctx)),
      options_(options),
      workspaces_sql_(WithSchema(kWorkspacesSql, ctx_.quoted_schema)),
      running_sql_(WithSchema(kRunningSql, ctx_.quoted_schema)),
      queue_sql_(WithSchema(kQueueSql, ctx_.quoted_schema)),
      top_runs_sql_(WithSchema(kTopRunsSql, ctx_.quoted_schema)) {}

std::span<const FamilySpec> RealtimeCollector::Families() { return kFamilies; }

Snapshot RealtimeCollector::Collect(DbSession& db) {
  const std::string now = FormatTimestampUs(ToUnixMicros(ctx_.clock->Now()));
  std::map<std::string, double> running;
  std::map<std::string, double> overdue;
  std::map<std::string, QueueStats> queue;
  pqxx::result top;
  {
    // One snapshot for all four reads, so running + queued never double-counts a
    // run that was dispatched in between.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(db.Get());
    SetStatementTimeout(tx, ctx_.timeout);
    for (const auto& row : tx.exec(workspaces_sql_)) {
      running[row[0].as<std::string>()] = 0;
      overdue[row[0].as<std::string>()] = 0;
      queue[row[0].as<std::string>()] = {};
    }
    for (const auto& row : tx.exec_params(running_sql_, now, options_.overdue_factor)) {
      auto it = running.find(row[0].as<std::string>());
      if (it == running.end()) continue;
      it->second = row[1].as<double>();
      overdue[it->first] = row[2].as<double>();
    }
    for (const auto& row : tx.exec_params(queue_sql_, now)) {
      auto it = queue.find(row[0].as<std::string>());
      if (it != queue.end()) it->second = {row[1].as<double>(), row[2].as<double>(), row[3].as<double>()};
    }
    if (options_.top_runs > 0) top = tx.exec_params(top_runs_sql_, now, options_.top_runs);
    tx.commit();
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
  for (const auto& row : top) {
    const std::string ws = row[0].as<std::string>();
    if (!running.contains(ws)) continue;  // workspace deleted: its series go away
    elapsed.Add({ws, row[1].c_str(), row[2].c_str()}, row[3].as<double>());
    if (!row[4].is_null() && row[4].as<double>() > 0) {
      estimated.Add({ws, row[1].c_str(), row[2].c_str()}, row[4].as<double>());
    }
  }
  Snapshot out;
  for (FamilyBuilder* b : {&running_f, &depth, &wait, &oldest, &elapsed, &estimated, &overdue_f}) {
    out.push_back(b->Take());
  }
  return out;
}

}  // namespace aee
