#include "collectors/realtime_collector.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <tuple>

#include <pqxx/pqxx>

#include "collectors/options.h"
#include "collectors/scope.h"
#include "core/db.h"

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
// Rows (12 columns):
//   ('w', workspace, name, -, running, overdue, queue depth, mean wait, oldest wait)
//     for every workspace;
//   ('t', workspace, agent, run, elapsed, estimated, started_at (us), -, -, agent name,
//     user, rank) for the $3 longest-running runs of each workspace;
//   ('q', workspace, agent, queue entry, wait, priority, queued_at (us), estimated
//     start (us), -, agent name, -, position) for the first $4 entries of each queue
//     in dequeue order (none when $4 = 0: no live view).
// {user} is NULL unless --api.user-id asks for the column; {order} the dequeue order.
constexpr std::string_view kRealtimeSql = R"SQL(
WITH running AS (
  SELECT workspace_id, agent_id, run_id, started_at, estimated_runtime, {user} AS user_id
  FROM {schema}.agent_runs
  WHERE status = 'running' AND workspace_id IS NOT NULL AND {shard:workspace_id}
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
  WHERE status = 'queued' AND workspace_id IS NOT NULL AND {shard:workspace_id} GROUP BY 1
), top AS (
  SELECT workspace_id, agent_id, run_id, started_at, estimated_runtime, user_id,
         row_number() OVER (PARTITION BY workspace_id ORDER BY started_at, run_id) AS rank
  FROM running WHERE started_at IS NOT NULL
), waiting AS (
  SELECT workspace_id, agent_id, queue_id, priority, queued_at, estimated_start_time,
         row_number() OVER (PARTITION BY workspace_id ORDER BY {order}) AS position
  FROM {schema}.execution_queue
  WHERE $4 > 0 AND status = 'queued' AND workspace_id IS NOT NULL AND {shard:workspace_id}
)
SELECT 'w', w.id::text, w.name, NULL::text,
       coalesce(c.n, 0)::float8, coalesce(c.overdue, 0)::float8,
       coalesce(q.n, 0)::float8, coalesce(q.wait_avg, 0)::float8, coalesce(q.oldest, 0)::float8,
       NULL::text, NULL::text, NULL::int8
FROM {schema}.workspaces w
LEFT JOIN counts c ON c.workspace_id = w.id
LEFT JOIN queue q ON q.workspace_id = w.id
WHERE {shard:w.id}
UNION ALL
SELECT 't', t.workspace_id::text, coalesce(t.agent_id::text, ''), t.run_id::text,
       CASE WHEN isfinite(t.started_at) THEN greatest(extract(epoch FROM $1::timestamptz - t.started_at), 0) ELSE 0 END::float8,
       t.estimated_runtime::float8,
       CASE WHEN isfinite(t.started_at) THEN floor(extract(epoch FROM t.started_at) * 1000000) END::float8,
       NULL, NULL, a.name, t.user_id, t.rank
FROM top t LEFT JOIN {schema}.agents a ON a.id = t.agent_id
WHERE t.rank <= $3
UNION ALL
SELECT 'q', e.workspace_id::text, coalesce(e.agent_id::text, ''), e.queue_id::text,
       CASE WHEN isfinite(e.queued_at) THEN greatest(extract(epoch FROM $1::timestamptz - e.queued_at), 0) ELSE 0 END::float8,
       e.priority::float8,
       CASE WHEN isfinite(e.queued_at) THEN floor(extract(epoch FROM e.queued_at) * 1000000) END::float8,
       CASE WHEN isfinite(e.estimated_start_time) THEN floor(extract(epoch FROM e.estimated_start_time) * 1000000) END::float8,
       NULL, a.name, NULL, e.position
FROM waiting e LEFT JOIN {schema}.agents a ON a.id = e.agent_id
WHERE e.position <= $4
)SQL";

std::string RealtimeSql(const std::string& quoted_schema, const RealtimeCollectorOptions& o, const ShardOptions& shard) {
  std::string sql = WithSchema(kRealtimeSql, quoted_schema);
  auto replace = [&](std::string_view token, std::string_view with) {
    for (size_t at = sql.find(token); at != std::string::npos; at = sql.find(token, at + with.size())) {
      sql.replace(at, token.size(), with);
    }
  };
  replace("{shard:workspace_id}", ShardSql("workspace_id", shard));
  replace("{shard:w.id}", ShardSql("w.id", shard));
  replace("{user}", o.live_cap > 0 && o.user_id != UserIdMode::kOmit ? "user_id::text" : "NULL::text");
  replace("{order}", o.queue_fifo ? "queued_at NULLS LAST, queue_id"
                                  : "priority DESC, queued_at NULLS LAST, queue_id");
  return sql;
}

struct QueueStats {
  double depth = 0;
  double wait_avg = 0;
  double oldest = 0;
};

}  // namespace

std::string HashUserId(std::string_view key, std::string_view user_id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(user_id.data()),
       user_id.size(), digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < std::min(len, 16u); ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

RealtimeCollector::RealtimeCollector(CollectorContext ctx, RealtimeCollectorOptions options)
    : ctx_(std::move(ctx)), options_(std::move(options)) {
  // Without a consumer there is no live view to read for.
  if (!ctx_.on_live_view) options_.live_cap = 0;
  sql_ = RealtimeSql(ctx_.quoted_schema, options_, ctx_.shard);
}

std::span<const FamilySpec> RealtimeCollector::Families() { return kFamilies; }

Snapshot RealtimeCollector::Collect(DbSession& db) {
  const std::int64_t now_us = ToUnixMicros(ctx_.clock->Now());
  const std::string now = FormatTimestampUs(now_us);
  const int live_cap = options_.live_cap;
  std::map<std::string, double> running;
  std::map<std::string, double> overdue;
  std::map<std::string, QueueStats> queue;
  pqxx::result rows;
  {
    // A single statement needs no transaction: a session-wide statement_timeout
    // saves the BEGIN, SET LOCAL and COMMIT round trips on a collector that runs at
    // every change, and a prepared statement its 3 ms of planning
    // (docs/benchmarks.md, "Freshness"); behind a transaction pooler it is both.
    db.Prepare("realtime", sql_);
    rows = db.ExecPrepared("realtime", ctx_.timeout, now, options_.overdue_factor,
                           std::max(options_.top_runs, live_cap), live_cap);
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
    if (row[0].c_str()[0] != 't' || row[11].as<std::int64_t>() > options_.top_runs) continue;
    const std::string ws = row[1].as<std::string>();
    if (!running.contains(ws)) continue;  // workspace deleted: its series go away
    elapsed.Add({ws, row[2].c_str(), row[3].c_str()}, row[4].as<double>());
    if (!row[5].is_null() && row[5].as<double>() > 0) {
      estimated.Add({ws, row[2].c_str(), row[3].c_str()}, row[5].as<double>());
    }
  }
  if (live_cap > 0) PublishLiveView(rows, now_us);
  Snapshot out;
  for (FamilyBuilder* b : {&running_f, &depth, &wait, &oldest, &elapsed, &estimated, &overdue_f}) {
    out.push_back(b->Take());
  }
  return out;
}

void RealtimeCollector::PublishLiveView(const pqxx::result& rows, std::int64_t now_us) const {
  auto view = std::make_shared<LiveView>();
  view->sampled_at_us = now_us;
  auto micros = [](const pqxx::field& f) -> std::optional<std::int64_t> {
    if (f.is_null()) return std::nullopt;
    return static_cast<std::int64_t>(f.as<double>());
  };
  for (const auto& row : rows) {
    const char kind = row[0].c_str()[0];
    if (kind == 'w') {
      LiveWorkspace& ws = view->workspaces[row[1].as<std::string>()];
      ws.id = row[1].as<std::string>();
      ws.name = row[2].is_null() ? "" : ToValidUtf8(row[2].as<std::string>());
      ws.running = static_cast<std::int64_t>(row[4].as<double>());
      ws.queue_depth = static_cast<std::int64_t>(row[6].as<double>());
      ws.queue_wait_avg_seconds = row[7].as<double>();
      continue;
    }
    auto it = view->workspaces.find(row[1].as<std::string>());
    if (it == view->workspaces.end()) continue;  // a row of a workspace deleted meanwhile
    const std::string agent_name = row[9].is_null() ? "" : ToValidUtf8(row[9].as<std::string>());
    if (kind == 't') {
      if (row[11].as<std::int64_t>() > options_.live_cap) continue;
      LiveRun run;
      run.run_id = row[3].as<std::string>();
      run.agent_id = row[2].as<std::string>();
      run.agent_name = agent_name;
      if (!row[10].is_null()) {
        const std::string user = row[10].as<std::string>();
        run.user_id = options_.user_id == UserIdMode::kHash ? HashUserId(options_.user_id_key, user) : ToValidUtf8(user);
      }
      run.started_at_us = micros(row[6]).value_or(0);
      run.elapsed_seconds = row[4].as<double>();
      if (!row[5].is_null()) {
        const double estimate = row[5].as<double>();
        if (std::isfinite(estimate) && estimate > 0) {
          run.estimated_runtime_seconds = estimate;
          run.overdue = run.elapsed_seconds > options_.overdue_factor * estimate;
        }
      }
      it->second.runs.push_back(std::move(run));
    } else if (kind == 'q') {
      LiveQueued q;
      q.queue_id = row[3].as<std::string>();
      q.agent_id = row[2].as<std::string>();
      q.agent_name = agent_name;
      q.wait_seconds = row[4].as<double>();
      const double priority = row[5].is_null() ? 0 : row[5].as<double>();
      q.priority = static_cast<int>(std::clamp(priority, -2147483648.0, 2147483647.0));
      q.queued_at_us = micros(row[6]);
      q.estimated_start_us = micros(row[7]);
      q.position = static_cast<int>(row[11].as<std::int64_t>());
      it->second.queued.push_back(std::move(q));
    }
  }
  // UNION ALL keeps no order: lists go out longest-running first and in dequeue order.
  for (auto& [id, ws] : view->workspaces) {
    std::sort(ws.runs.begin(), ws.runs.end(), [](const LiveRun& a, const LiveRun& b) {
      return std::tie(a.started_at_us, a.run_id) < std::tie(b.started_at_us, b.run_id);
    });
    std::sort(ws.queued.begin(), ws.queued.end(),
              [](const LiveQueued& a, const LiveQueued& b) { return a.position < b.position; });
  }
  ctx_.on_live_view(std::move(view));
}


std::span<const CollectorFlag> RealtimeCollector::Flags() {
  static constexpr CollectorFlag kFlags[] = {
      {{"collector.realtime.top-runs", FlagKind::kInt, "10",
        "Longest-running runs per workspace exposed with run_id (0 turns agent_run_elapsed_seconds off)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseIntFlag(v, 0, 1000, &o->realtime.top_runs, why);
       }},
      {{"collector.realtime.overdue-factor", FlagKind::kString, "3",
        "A running run counts in agent_runs_overdue once it has run this many times its estimated_runtime."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         double factor = 0;
         auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), factor);
         if (ec != std::errc() || ptr != v.data() + v.size() || !(factor >= 1 && factor <= 1000)) {
           *why = "want a number from 1 to 1000, got \"" + std::string(v) + "\"";
           return false;
         }
         o->realtime.overdue_factor = factor;
         return true;
       }},
  };
  return kFlags;
}

}  // namespace aee
