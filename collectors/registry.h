#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "collectors/collector.h"
#include "collectors/options.h"

namespace aee {

/// One row of the collector table: the single place collectors are registered.
/// Flags (--collector.<name>, --no-collector.<name>, .interval, .timeout and the
/// collector's own), --help, docs and tests all loop over this table.
struct CollectorEntry {
  std::string_view name;
  bool enabled_by_default;
  std::chrono::milliseconds default_interval;
  std::string_view help;
  std::unique_ptr<Collector> (*create)(const CollectorContext& ctx, const CollectorOptions& options);
  std::span<const FamilySpec> (*families)();
  /// Its own flags, declared beside its families (none: an empty span).
  std::span<const CollectorFlag> (*flags)();
  /// Tables whose change notifications (--db.notify-channel) wake it at once.
  std::span<const std::string_view> woken_by;
  /// Least time between two woken cycles unless --collector.<name>.notify-coalesce
  /// says otherwise; --db.notify-coalesce when that is longer.
  std::chrono::milliseconds default_notify_coalesce{0};
};

/// All collectors this build knows, in a fixed order.
std::span<const CollectorEntry> CollectorTable();

/// The entry named name, or nullptr.
const CollectorEntry* FindCollector(std::string_view name);

/// Flags that belong to the collectors as a whole (which workspaces they expose).
std::span<const CollectorFlag> SharedCollectorFlags();

/// The collector flag called name (a collector's own or a shared one), or nullptr.
const CollectorFlag* FindCollectorFlag(std::string_view name);

/// Calls each for every collector flag: the shared ones, then each collector's in
/// table order.
template <typename F>
void ForEachCollectorFlag(F&& each) {
  for (const auto& f : SharedCollectorFlags()) each(f);
  for (const auto& e : CollectorTable()) {
    for (const auto& f : e.flags()) each(f);
  }
}

/// Checks what one flag cannot check alone; false with *flag (without "--") and
/// *why set.
bool CheckCollectorOptions(const CollectorOptions& options, std::string* flag, std::string* why);

}  // namespace aee
