#pragma once

#include <span>
#include <string>

#include "collectors/collector.h"

namespace aee {

/// Load of the platform database: connections by state, transactions committed
/// and rolled back, and statement time from pg_stat_statements when that extension
/// is installed in the database (its families are absent, not zero, otherwise).
///
/// The exporter's own query time per collector is in the scheduler's
/// agent_exporter_collector_duration_seconds_total.
class DatabaseCollector final : public Collector {
 public:
  explicit DatabaseCollector(CollectorContext ctx);
  Snapshot Collect(DbSession& db) override;
  static std::span<const FamilySpec> Families();

 private:
  CollectorContext ctx_;
};

}  // namespace aee
