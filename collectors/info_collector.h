#pragma once

#include <span>
#include <string>

#include "collectors/collector.h"

namespace aee {

/// Display names as info metrics (value 1), joined in PromQL with group_left so
/// identity labels stay ids and renames never split a series.
class InfoCollector final : public Collector {
 public:
  /// agent_info=false leaves agent_info out (--collector.agents.per-agent-label=false).
  explicit InfoCollector(CollectorContext ctx, bool agent_info = true);
  Snapshot Collect(DbSession& db) override;
  static std::span<const FamilySpec> Families();

 private:
  CollectorContext ctx_;
  bool agent_info_;
  std::string workspaces_sql_;
  std::string agents_sql_;
};

}  // namespace aee
