#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <span>
#include <string>

#include "collectors/collector.h"

namespace pqxx {
class transaction_base;
}

namespace aee {

/// Options of the patterns collector (flags --collector.patterns.*).
struct PatternsCollectorOptions {
  /// Complete days looked back over (fewer while the history is shorter).
  int lookback_days = 28;
  /// Time zone of the days and hours (PostgreSQL zone name, e.g. Europe/Paris).
  std::string timezone = "UTC";
  /// A cycle stops reading uncached days once it has spent this long (after at
  /// least one day) and the next cycle continues at once: no cycle runs much
  /// longer, however large the table.
  std::chrono::milliseconds cycle_budget{500};

  bool operator==(const PatternsCollectorOptions&) const = default;
};

/// Execution patterns over the last complete days: runs per hour of day, per day,
/// on weekdays and weekend days, peak and quiet hours, and per-hour success rate
/// and latency (the spec's patterns and byHour sections).
///
/// Past days do not change, so each day is aggregated once (grouped by workspace
/// and hour, over the finished_at index) and cached; a cycle only reads the days
/// not cached yet, which after start-up is none, or yesterday right after midnight.
/// Start-up reads the newest days first within --collector.patterns.cycle-budget per
/// cycle, once every collector's first cycle has ended (SetStartingUp); until the window is complete the figures cover the days read so far
/// (agent_execution_patterns_window_seconds says how many).
class PatternsCollector final : public Collector {
 public:
  PatternsCollector(CollectorContext ctx, PatternsCollectorOptions options);
  Snapshot Collect(DbSession& db) override;
  bool HasPendingWork() const override { return pending_; }
  /// While starting up a cycle reads no history: the first cycle publishes the
  /// (empty) window at once and the history follows in budgeted cycles.
  void SetStartingUp(bool starting) override { starting_up_ = starting; }
  static std::span<const FamilySpec> Families();
  /// Its flags (--collector.patterns.*).
  static std::span<const CollectorFlag> Flags();

  /// Peak and quiet hours exposed per workspace.
  static constexpr int kRankedHours = 3;

  /// How many times the workspace families were built (tests): once per change of
  /// the window (a day read completely, dropped or read again) or of the
  /// workspaces, not once per cycle.
  std::uint64_t family_builds() const { return family_builds_; }

 private:
  struct HourAgg {
    std::uint64_t runs = 0;
    std::uint64_t completed = 0;
    std::uint64_t latency_count = 0;
    std::int64_t latency_sum_us = 0;
  };
  using Hours = std::array<HourAgg, 24>;
  struct Day {
    std::map<std::string, Hours> workspaces;
    bool final = false;  // aggregated after the day could still change (late commits)
    int hours_read = 0;  // local hour slices [0, hours_read) are in workspaces
    bool complete() const { return hours_read >= 24; }
  };
  /// Where a cycle stands in local days: today, the first day of the window.
  struct Calendar {
    std::int64_t today = 0;
    std::int64_t start = 0;
    double time_of_day = 0;  // seconds since local midnight
  };
  struct Totals {
    Hours hours{};
    std::uint64_t weekday_runs = 0;
    std::uint64_t weekend_runs = 0;
    std::int64_t days_with_runs = 0;  // cached days this workspace has runs in
  };
  /// The cached days summed per workspace and hour.
  struct Window {
    std::map<std::string, Totals> workspaces;
    std::int64_t days = 0;
    std::int64_t weekdays = 0;
  };
  struct Builders;  // the families of one snapshot

  Calendar ReadCalendar(pqxx::transaction_base& tx, const std::string& now) const;
  /// Reads the days of the window not cached yet (or not final), newest first,
  /// within the cycle budget; sets pending_ when it stopped before the end.
  void ReadMissingDays(pqxx::transaction_base& tx, const Calendar& calendar);
  /// Reads the next hour slice of local day d into day.
  void ReadHourSlice(pqxx::transaction_base& tx, std::int64_t d, Day& day);
  std::set<std::string> ReadWorkspaces(pqxx::transaction_base& tx) const;
  /// Caches day d (replacing a cached copy) or drops it, keeping sums_ in step.
  void StoreDay(std::int64_t d, Day day);
  void DropDay(std::map<std::int64_t, Day>::iterator it);
  /// Adds (sign 1) or takes out (sign -1) one cached day's aggregates from sums_.
  void ApplyDay(std::int64_t d, const Day& day, int sign);
  Window SumWindow(const std::set<std::string>& workspaces) const;
  /// The workspace families of the window, built again only when the window or
  /// the workspaces changed since the last cycle; the rest is the cached copy.
  Snapshot BuildSnapshot(const std::set<std::string>& workspaces);
  void AddWorkspace(Builders& b, const Window& window, const std::string& ws, const Totals& t) const;

  CollectorContext ctx_;
  PatternsCollectorOptions options_;
  std::string clock_sql_;
  std::string days_sql_;
  std::string workspaces_sql_;
  std::map<std::int64_t, Day> days_;  // local day number (days since 1970-01-01) -> complete aggregates
  std::optional<std::pair<std::int64_t, Day>> reading_;  // the day being read, slice by slice
  std::uint64_t rows_aggregated_ = 0;
  /// days_ summed per workspace and hour (kept in step by StoreDay and DropDay, so
  /// a cycle costs what it read, not the days x workspaces of the window).
  Window sums_;
  bool window_changed_ = true;  // sums_ changed since the families were built
  std::set<std::string> built_workspaces_;  // the workspaces the cached families show
  Snapshot built_;  // the cached families, without rows_read
  std::uint64_t family_builds_ = 0;
  bool pending_ = false;  // the last cycle left days of the window unread
  bool starting_up_ = false;  // SetStartingUp
};

}  // namespace aee
