#pragma once

#include <chrono>
#include <span>
#include <string>

#include "collectors/collector.h"

namespace aee {

/// Options of the workers collector (flags --collector.workers.*).
struct WorkersCollectorOptions {
  /// A worker whose last heartbeat is older than this counts as offline.
  std::chrono::milliseconds stale_after{std::chrono::minutes(1)};
  /// Also expose one series per worker (cardinality: the number of workers).
  bool per_worker = false;

  bool operator==(const WorkersCollectorOptions&) const = default;
};

/// Worker pools right now: workers by state, run slots, CPU / memory / GPU load.
///
/// A pool is a workspace's own workers, or the shared pool (workspace_id NULL,
/// exposed as workspace_id=""). The workers table is optional: without it the
/// collector reports itself unavailable.
class WorkersCollector final : public Collector {
 public:
  WorkersCollector(CollectorContext ctx, WorkersCollectorOptions options);
  Snapshot Collect(DbSession& db) override;
  static std::span<const FamilySpec> Families();
  /// Its flags (--collector.workers.*).
  static std::span<const CollectorFlag> Flags();

 private:
  CollectorContext ctx_;
  WorkersCollectorOptions options_;
  std::string pools_sql_;
  std::string workers_sql_;
};

}  // namespace aee
