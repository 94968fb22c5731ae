#include "collectors/registry.h"

#include "collectors/database_collector.h"
#include "collectors/info_collector.h"
#include "collectors/models_collector.h"
#include "collectors/patterns_collector.h"
#include "collectors/realtime_collector.h"
#include "collectors/runs_collector.h"
#include "collectors/workers_collector.h"
#include "exporter/config.h"

namespace aee {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<Collector> MakeRealtime(const CollectorContext& ctx, const Config& config) {
  return std::make_unique<RealtimeCollector>(ctx, config.realtime);
}
std::unique_ptr<Collector> MakeRuns(const CollectorContext& ctx, const Config& config) {
  return std::make_unique<RunsCollector>(ctx, config.runs);
}
std::unique_ptr<Collector> MakeInfo(const CollectorContext& ctx, const Config& config) {
  return std::make_unique<InfoCollector>(ctx, config.runs.per_agent_label);
}
std::unique_ptr<Collector> MakeWorkers(const CollectorContext& ctx, const Config& config) {
  return std::make_unique<WorkersCollector>(ctx, config.workers);
}
std::unique_ptr<Collector> MakeModels(const CollectorContext& ctx, const Config& config) {
  return std::make_unique<ModelsCollector>(ctx, config.models);
}
std::unique_ptr<Collector> MakeDatabase(const CollectorContext& ctx, const Config&) {
  return std::make_unique<DatabaseCollector>(ctx);
}
std::unique_ptr<Collector> MakePatterns(const CollectorContext& ctx, const Config& config) {
  return std::make_unique<PatternsCollector>(ctx, config.patterns);
}

const CollectorEntry kTable[] = {
    {"realtime", true, milliseconds(1000),
     "Running runs, queue depth and wait, longest-running runs, per workspace.", &MakeRealtime,
     &RealtimeCollector::Families},
    {"runs", true, milliseconds(5000),
     "Finished-run counters and latency histograms since 00:00 UTC, counted exactly once.", &MakeRuns,
     &RunsCollector::Families},
    {"info", true, milliseconds(30000), "Workspace and agent display names as _info metrics.", &MakeInfo,
     &InfoCollector::Families},
    {"workers", true, milliseconds(5000),
     "Workers by state, run slots and CPU/memory/GPU usage per pool (needs the optional workers table).",
     &MakeWorkers, &WorkersCollector::Families},
    {"models", true, milliseconds(10000),
     "Model calls, tokens, cost and latency since 00:00 UTC, counted exactly once (needs the optional "
     "model_calls table).",
     &MakeModels, &ModelsCollector::Families},
    {"database", true, milliseconds(15000),
     "Connections, transactions and pg_stat_statements statement time of the platform database.", &MakeDatabase,
     &DatabaseCollector::Families},
    {"patterns", true, milliseconds(300000),
     "Runs per hour of day, per day, weekday and weekend averages, peak and quiet hours over the last days.",
     &MakePatterns, &PatternsCollector::Families},
};

}  // namespace

std::span<const CollectorEntry> CollectorTable() { return kTable; }

const CollectorEntry* FindCollector(std::string_view name) {
  for (const auto& e : kTable) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

}  // namespace aee
