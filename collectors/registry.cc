#include "collectors/registry.h"

#include "collectors/info_collector.h"
#include "collectors/realtime_collector.h"
#include "collectors/runs_collector.h"
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
std::unique_ptr<Collector> MakeInfo(const CollectorContext& ctx, const Config&) {
  return std::make_unique<InfoCollector>(ctx);
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
