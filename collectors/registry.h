#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string_view>

#include "collectors/collector.h"

namespace aee {

struct Config;

/// One row of the collector table: the single place collectors are registered.
/// Flags (--collector.<name>, --no-collector.<name>, .interval, .timeout), docs
/// and tests all loop over this table.
struct CollectorEntry {
  std::string_view name;
  bool enabled_by_default;
  std::chrono::milliseconds default_interval;
  std::string_view help;
  std::unique_ptr<Collector> (*create)(const CollectorContext& ctx, const Config& config);
  std::span<const FamilySpec> (*families)();
};

/// All collectors this build knows, in a fixed order.
std::span<const CollectorEntry> CollectorTable();

/// The entry named name, or nullptr.
const CollectorEntry* FindCollector(std::string_view name);

}  // namespace aee
