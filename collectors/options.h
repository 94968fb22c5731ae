#pragma once

#include <string>

#include "collectors/models_collector.h"
#include "collectors/patterns_collector.h"
#include "collectors/realtime_collector.h"
#include "collectors/runs_collector.h"
#include "collectors/workers_collector.h"

namespace aee {

/// Every collector's options, as their flags (CollectorFlag) set them. A
/// default-constructed value is what the flags' default texts give.
struct CollectorOptions {
  RealtimeCollectorOptions realtime;
  RunsCollectorOptions runs;
  WorkersCollectorOptions workers;
  ModelsCollectorOptions models;
  PatternsCollectorOptions patterns;
  std::string workspaces_include;  // --collector.workspaces.include (anchored regex on id or name)
  std::string workspaces_exclude;  // --collector.workspaces.exclude

  bool operator==(const CollectorOptions&) const = default;
};

}  // namespace aee
