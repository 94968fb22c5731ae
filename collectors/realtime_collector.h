#pragma once

#include <span>
#include <string>

#include "collectors/collector.h"

namespace aee {

/// Options of the realtime collector (flags --collector.realtime.*).
struct RealtimeCollectorOptions {
  /// Longest-running runs per workspace exposed with their run_id; 0 = none.
  int top_runs = 10;
  /// A running run is overdue once it has run this many times its estimated_runtime.
  double overdue_factor = 3.0;
};

/// What is running and queued right now, per workspace.
///
/// Every workspace in the workspaces table gets a series (0 when idle); a deleted
/// workspace's series disappear with it. Reads only partial indexes over running
/// and waiting rows, so its cost follows concurrency, not history.
class RealtimeCollector final : public Collector {
 public:
  RealtimeCollector(CollectorContext ctx, RealtimeCollectorOptions options);
  Snapshot Collect(DbSession& db) override;
  static std::span<const FamilySpec> Families();

 private:
  CollectorContext ctx_;
  RealtimeCollectorOptions options_;
  std::string sql_;
};

}  // namespace aee
