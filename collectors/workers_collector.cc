#include "collectors/workers_collector.h"

#include <pqxx/pqxx>

#include "collectors/options.h"
#include "collectors/scope.h"
#include "core/db.h"

namespace aee {
namespace {

using prometheus::MetricType;
using std::chrono::duration_cast;
using std::chrono::microseconds;

constexpr FamilySpec kWorkers{"agent_workers", MetricType::Gauge,
                              "Workers by state (busy, idle, offline; a stale heartbeat counts as offline), per pool.",
                              {"workspace_id", "state"}};
constexpr FamilySpec kSlots{"agent_worker_slots", MetricType::Gauge,
                            "Run slots (capacity) of the workers that are not offline, per pool.", {"workspace_id"}};
constexpr FamilySpec kCpuAvg{"agent_worker_cpu_usage_ratio_avg", MetricType::Gauge,
                             "Mean CPU usage (0-1) of the live workers reporting it, per pool.", {"workspace_id"}};
constexpr FamilySpec kCpuMax{"agent_worker_cpu_usage_ratio_max", MetricType::Gauge,
                             "Highest CPU usage (0-1) of the live workers reporting it, per pool.", {"workspace_id"}};
constexpr FamilySpec kMemAvg{"agent_worker_memory_usage_ratio_avg", MetricType::Gauge,
                             "Mean memory usage (0-1) of the live workers reporting it, per pool.", {"workspace_id"}};
constexpr FamilySpec kMemMax{"agent_worker_memory_usage_ratio_max", MetricType::Gauge,
                             "Highest memory usage (0-1) of the live workers reporting it, per pool.", {"workspace_id"}};
constexpr FamilySpec kGpuAvg{"agent_worker_gpu_usage_ratio_avg", MetricType::Gauge,
                             "Mean GPU usage (0-1) of the live workers reporting it, per pool.", {"workspace_id"}};
constexpr FamilySpec kGpuMax{"agent_worker_gpu_usage_ratio_max", MetricType::Gauge,
                             "Highest GPU usage (0-1) of the live workers reporting it, per pool.", {"workspace_id"}};
constexpr FamilySpec kIgnored{"agent_exporter_workers_ignored", MetricType::Gauge,
                              "Worker rows with an unknown status, or usage values outside 0-100 percent, ignored "
                              "by the last cycle.",
                              {"reason"}};
// Per-worker families (--collector.workers.per-worker).
constexpr FamilySpec kWorkerState{"agent_worker_state", MetricType::Gauge,
                                  "1 for the worker's state (busy, idle, offline), 0 for the others.",
                                  {"workspace_id", "worker_id", "state"}};
constexpr FamilySpec kWorkerCapacity{"agent_worker_capacity_slots", MetricType::Gauge, "Run slots of the worker.",
                                     {"workspace_id", "worker_id"}};
constexpr FamilySpec kWorkerCpu{"agent_worker_cpu_usage_ratio", MetricType::Gauge,
                                "CPU usage (0-1) of a live worker.", {"workspace_id", "worker_id"}};
constexpr FamilySpec kWorkerMem{"agent_worker_memory_usage_ratio", MetricType::Gauge,
                                "Memory usage (0-1) of a live worker.", {"workspace_id", "worker_id"}};
constexpr FamilySpec kWorkerGpu{"agent_worker_gpu_usage_ratio", MetricType::Gauge,
                                "GPU usage (0-1) of a live worker.", {"workspace_id", "worker_id"}};
constexpr FamilySpec kWorkerHeartbeat{"agent_worker_last_heartbeat_timestamp_seconds", MetricType::Gauge,
                                      "Time of the worker's last heartbeat (absent when it never sent one).",
                                      {"workspace_id", "worker_id"}};

constexpr std::array<FamilySpec, 15> kFamilies = {
    kWorkers,     kSlots,           kCpuAvg,    kCpuMax,    kMemAvg,    kMemMax,         kGpuAvg,         kGpuMax,
    kIgnored,     kWorkerState,     kWorkerCapacity, kWorkerCpu, kWorkerMem, kWorkerGpu, kWorkerHeartbeat};

constexpr std::array<std::string_view, 3> kStates = {"busy", "idle", "offline"};

// Each worker classified once, here: the effective state (a heartbeat older than
// $1, or none, means offline whatever the row says; an unknown status is NULL)
// and the usage values as ratios, NULL when missing or outside 0-100 (NaN too:
// PostgreSQL orders NaN above every number).
constexpr std::string_view kClassified = R"SQL(
WITH w AS (
  SELECT coalesce(workspace_id::text, '') AS pool,
         worker_id,
         CASE WHEN last_heartbeat IS NULL OR last_heartbeat < $1::timestamptz THEN 'offline'
              WHEN lower(status) IN ('busy', 'idle', 'offline') THEN lower(status)
         END AS state,
         greatest(coalesce(capacity, 0), 0) AS capacity,
         CASE WHEN cpu_percent BETWEEN 0 AND 100 THEN cpu_percent / 100 END AS cpu,
         CASE WHEN memory_percent BETWEEN 0 AND 100 THEN memory_percent / 100 END AS mem,
         CASE WHEN gpu_percent BETWEEN 0 AND 100 THEN gpu_percent / 100 END AS gpu,
         (cpu_percent IS NOT NULL AND NOT cpu_percent BETWEEN 0 AND 100)::int
           + (memory_percent IS NOT NULL AND NOT memory_percent BETWEEN 0 AND 100)::int
           + (gpu_percent IS NOT NULL AND NOT gpu_percent BETWEEN 0 AND 100)::int AS invalid,
         CASE WHEN isfinite(last_heartbeat) THEN (extract(epoch FROM last_heartbeat) * 1000000)::bigint END AS heartbeat_us
  FROM {schema}.workers
  WHERE {shard}
), c AS (
  SELECT w.*, state IN ('busy', 'idle') AS live FROM w
)
)SQL";

constexpr std::string_view kPoolsSelect = R"SQL(
SELECT pool,
       count(*) FILTER (WHERE state = 'busy'),
       count(*) FILTER (WHERE state = 'idle'),
       count(*) FILTER (WHERE state = 'offline'),
       count(*) FILTER (WHERE state IS NULL),
       coalesce(sum(capacity) FILTER (WHERE live), 0),
       avg(cpu) FILTER (WHERE live), max(cpu) FILTER (WHERE live),
       avg(mem) FILTER (WHERE live), max(mem) FILTER (WHERE live),
       avg(gpu) FILTER (WHERE live), max(gpu) FILTER (WHERE live),
       coalesce(sum(invalid) FILTER (WHERE live), 0)
FROM c GROUP BY pool ORDER BY pool
)SQL";

constexpr std::string_view kWorkersSelect = R"SQL(
SELECT pool, worker_id, coalesce(state, ''), capacity,
       CASE WHEN live THEN cpu END, CASE WHEN live THEN mem END, CASE WHEN live THEN gpu END, heartbeat_us
FROM c ORDER BY pool, worker_id
)SQL";

void AddIfPresent(FamilyBuilder& b, std::initializer_list<std::string_view> labels, const pqxx::field& f) {
  if (!f.is_null()) b.Add(labels, f.as<double>());
}

}  // namespace

WorkersCollector::WorkersCollector(CollectorContext ctx, WorkersCollectorOptions options)
    : ctx_(std::move(ctx)),
      options_(options),
      pools_sql_(WithSchema(std::string(kClassified) + std::string(kPoolsSelect), ctx_.quoted_schema)),
      workers_sql_(WithSchema(std::string(kClassified) + std::string(kWorkersSelect), ctx_.quoted_schema)) {
  // Sharded, each exporter reads its workspaces' pools; the shared pool is shard 0's.
  // The hash per row (ShardSql): a few workers cost less than hashing every workspace.
  for (std::string* sql : {&pools_sql_, &workers_sql_}) sql->replace(sql->find("{shard}"), 7, ShardSql("workspace_id", ctx_.shard));
}

std::span<const FamilySpec> WorkersCollector::Families() { return kFamilies; }

Snapshot WorkersCollector::Collect(DbSession& db) {
  const std::int64_t now_us = ToUnixMicros(ctx_.clock->Now());
  const std::string cutoff =
      FormatTimestampUs(now_us - duration_cast<microseconds>(options_.stale_after).count());
  pqxx::result pools, workers;
  {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(db.Get());
    SetStatementTimeout(tx, ctx_.timeout);
    RequireTable(tx, ctx_.quoted_schema, "workers");
    pools = tx.exec_params(pools_sql_, cutoff);
    if (options_.per_worker) workers = tx.exec_params(workers_sql_, cutoff);
    tx.commit();
  }

  FamilyBuilder count(kWorkers), slots(kSlots), cpu_avg(kCpuAvg), cpu_max(kCpuMax), mem_avg(kMemAvg),
      mem_max(kMemMax), gpu_avg(kGpuAvg), gpu_max(kGpuMax), ignored(kIgnored);
  double unknown = 0, invalid = 0;
  for (const auto& row : pools) {
    const std::string pool = row[0].as<std::string>();
    for (size_t i = 0; i < kStates.size(); ++i) {
      count.Add({pool, kStates[i]}, row[static_cast<int>(i) + 1].as<double>());
    }
    unknown += row[4].as<double>();
    slots.Add({pool}, row[5].as<double>());
    AddIfPresent(cpu_avg, {pool}, row[6]);
    AddIfPresent(cpu_max, {pool}, row[7]);
    AddIfPresent(mem_avg, {pool}, row[8]);
    AddIfPresent(mem_max, {pool}, row[9]);
    AddIfPresent(gpu_avg, {pool}, row[10]);
    AddIfPresent(gpu_max, {pool}, row[11]);
    invalid += row[12].as<double>();
  }
  if (ctx_.on_pool_loads) {
    auto loads = std::make_shared<PoolLoads>();
    for (const auto& row : pools) {
      PoolLoad& p = (*loads)[row[0].as<std::string>()];
      p.busy = row[1].as<std::int64_t>();
      p.idle = row[2].as<std::int64_t>();
      p.total = p.busy + p.idle;
      p.slots = row[5].as<std::int64_t>();
      if (!row[6].is_null()) p.cpu_ratio = row[6].as<double>();
      if (!row[8].is_null()) p.memory_ratio = row[8].as<double>();
    }
    ctx_.on_pool_loads(std::move(loads));
  }
  ignored.Add({"unknown_status"}, unknown);
  ignored.Add({"invalid_percent"}, invalid);

  Snapshot out;
  for (FamilyBuilder* b : {&count, &slots, &cpu_avg, &cpu_max, &mem_avg, &mem_max, &gpu_avg, &gpu_max, &ignored}) {
    out.push_back(b->Take());
  }
  if (!options_.per_worker) return out;

  FamilyBuilder state(kWorkerState), capacity(kWorkerCapacity), cpu(kWorkerCpu), mem(kWorkerMem), gpu(kWorkerGpu),
      heartbeat(kWorkerHeartbeat);
  for (const auto& row : workers) {
    const std::string pool = row[0].as<std::string>();
    const std::string id = row[1].as<std::string>();
    const std::string current = row[2].as<std::string>();
    for (std::string_view s : kStates) state.Add({pool, id, s}, s == current ? 1 : 0);
    capacity.Add({pool, id}, row[3].as<double>());
    AddIfPresent(cpu, {pool, id}, row[4]);
    AddIfPresent(mem, {pool, id}, row[5]);
    AddIfPresent(gpu, {pool, id}, row[6]);
    if (!row[7].is_null()) heartbeat.Add({pool, id}, static_cast<double>(row[7].as<std::int64_t>()) / 1e6);
  }
  for (FamilyBuilder* b : {&state, &capacity, &cpu, &mem, &gpu, &heartbeat}) out.push_back(b->Take());
  return out;
}


std::span<const CollectorFlag> WorkersCollector::Flags() {
  static constexpr CollectorFlag kFlags[] = {
      {{"collector.workers.stale-after", FlagKind::kDuration, "1m",
        "A worker whose last heartbeat is older than this counts as offline."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseDurationFlag(v, false, &o->workers.stale_after, why);
       }},
      {{"collector.workers.per-worker", FlagKind::kBool, "false",
        "Also expose one series per worker (cardinality x workers)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return ParseBoolFlag(v, &o->workers.per_worker, why);
       }},
  };
  return kFlags;
}

}  // namespace aee
