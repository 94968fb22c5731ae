#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>

#include "core/metrics.h"

namespace aee {

class DbSession;

/// Statement timeout of a collector cycle unless --collector.<name>.timeout says otherwise.
inline constexpr std::chrono::milliseconds kDefaultCollectorTimeout{10000};

/// When and whether one collector runs.
struct CollectorSchedule {
  bool enabled = true;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout = kDefaultCollectorTimeout;
  /// Least time between the starts of two cycles that change notifications ask for
  /// (--collector.<name>.notify-coalesce); unset: the scheduler's.
  std::optional<std::chrono::milliseconds> notify_coalesce;
};

/// A source of metrics sampled from the database on its own schedule.
///
/// Collect() runs on the collector's own thread with its own session; it either
/// returns a complete snapshot or throws, in which case the scheduler keeps
/// publishing the previous snapshot. Counters and histograms live inside the
/// collector that owns them, so a failed cycle loses nothing.
class Collector {
 public:
  virtual ~Collector() = default;
  virtual Snapshot Collect(DbSession& db) = 0;
  /// True when the last Collect() stopped early with work left (a cycle budget):
  /// the scheduler runs the next cycle at once instead of after the interval.
  virtual bool HasPendingWork() const { return false; }
  /// Told by the scheduler before each cycle: true while some collector's first
  /// cycle has not ended (start-up, /readyz waiting). Work that can wait (history)
  /// is left for later cycles then, so it does not compete with those first cycles.
  virtual void SetStartingUp(bool) {}
};

/// Thrown by Collect() when an optional source (a table, an extension) does not
/// exist. The scheduler reports the collector down and retries, logs once, and
/// does not let it hold /readyz back: the platform simply lacks that part.
class CollectorUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace aee
