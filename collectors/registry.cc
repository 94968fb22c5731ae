#include "collectors/registry.h"

#include "collectors/database_collector.h"
#include "collectors/info_collector.h"
#include "collectors/models_collector.h"
#include "collectors/patterns_collector.h"
#include "collectors/realtime_collector.h"
#include "collectors/runs_collector.h"
#include "collectors/scope.h"
#include "collectors/workers_collector.h"

namespace aee {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<Collector> MakeRealtime(const CollectorContext& ctx, const CollectorOptions& options) {
  return std::make_unique<RealtimeCollector>(ctx, options.realtime);
}
std::unique_ptr<Collector> MakeRuns(const CollectorContext& ctx, const CollectorOptions& options) {
  return std::make_unique<RunsCollector>(ctx, options.runs);
}
std::unique_ptr<Collector> MakeInfo(const CollectorContext& ctx, const CollectorOptions& options) {
  return std::make_unique<InfoCollector>(ctx, options.runs.per_agent_label);
}
std::unique_ptr<Collector> MakeWorkers(const CollectorContext& ctx, const CollectorOptions& options) {
  return std::make_unique<WorkersCollector>(ctx, options.workers);
}
std::unique_ptr<Collector> MakeModels(const CollectorContext& ctx, const CollectorOptions& options) {
  return std::make_unique<ModelsCollector>(ctx, options.models);
}
std::unique_ptr<Collector> MakeDatabase(const CollectorContext& ctx, const CollectorOptions&) {
  return std::make_unique<DatabaseCollector>(ctx);
}
std::unique_ptr<Collector> MakePatterns(const CollectorContext& ctx, const CollectorOptions& options) {
  return std::make_unique<PatternsCollector>(ctx, options.patterns);
}

std::span<const CollectorFlag> NoFlags() { return {}; }

constexpr std::string_view kRunsAndQueue[] = {"agent_runs", "execution_queue"};
constexpr std::string_view kRuns[] = {"agent_runs"};

const CollectorEntry kTable[] = {
    {"realtime", true, milliseconds(1000),
     "Running runs, queue depth and wait, longest-running runs, per workspace.", &MakeRealtime,
     &RealtimeCollector::Families, &RealtimeCollector::Flags, kRunsAndQueue},
    {"runs", true, milliseconds(5000),
     "Finished-run counters and latency histograms since 00:00 UTC, counted exactly once.", &MakeRuns,
     &RunsCollector::Families, &RunsCollector::Flags, kRuns,
     // Each woken cycle re-reads every row since the transaction frontier: woken per
     // commit it cost 88 ms of database time a second at 118 runs/s, at 1 s 3 ms
     // (docs/benchmarks.md). Counters are read every 15 s or so: 1 s loses nothing.
     milliseconds(1000)},
    {"info", true, milliseconds(30000), "Workspace and agent display names as _info metrics.", &MakeInfo,
     &InfoCollector::Families, &NoFlags, {}},
    {"workers", true, milliseconds(5000),
     "Workers by state, run slots and CPU/memory/GPU usage per pool (needs the optional workers table).",
     &MakeWorkers, &WorkersCollector::Families, &WorkersCollector::Flags, {}},
    {"models", true, milliseconds(10000),
     "Model calls, tokens, cost and latency since 00:00 UTC, counted exactly once (needs the optional "
     "model_calls table).",
     &MakeModels, &ModelsCollector::Families, &ModelsCollector::Flags, {}},
    {"database", true, milliseconds(15000),
     "Connections, transactions and pg_stat_statements statement time of the platform database.", &MakeDatabase,
     &DatabaseCollector::Families, &NoFlags, {}},
    {"patterns", true, milliseconds(300000),
     "Runs per hour of day, per day, weekday and weekend averages, peak and quiet hours over the last days.",
     &MakePatterns, &PatternsCollector::Families, &PatternsCollector::Flags, {}},
};

}  // namespace

std::span<const CollectorEntry> CollectorTable() { return kTable; }

const CollectorEntry* FindCollector(std::string_view name) {
  for (const auto& e : kTable) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::span<const CollectorFlag> SharedCollectorFlags() { return WorkspaceFilterFlags(); }

const CollectorFlag* FindCollectorFlag(std::string_view name) {
  const CollectorFlag* found = nullptr;
  ForEachCollectorFlag([&](const CollectorFlag& f) {
    if (f.spec.name == name) found = &f;
  });
  return found;
}

bool CheckCollectorOptions(const CollectorOptions& options, std::string* flag, std::string* why) {
  if (!options.runs.per_agent_label && options.runs.agent_histograms) {
    *flag = "collector.runs.agent-histograms";
    *why = "needs per-agent labels (--collector.agents.per-agent-label=false is set)";
    return false;
  }
  return true;
}

}  // namespace aee
