#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/collector.h"
#include "core/db.h"
#include "core/exposition.h"
#include "core/heap_trimmer.h"
#include "core/log.h"

namespace aee {

/// A collector with its schedule and its own database session.
struct ScheduledCollector {
  std::string name;
  CollectorSchedule schedule;
  std::unique_ptr<Collector> collector;
  std::unique_ptr<DbSession> db;
};

/// The state of one collector as /readyz and the self-metrics report it.
struct CollectorStatus {
  std::string name;
  std::chrono::milliseconds interval{0};
  bool up = false;
  bool ever_succeeded = false;
  std::uint64_t errors = 0;
  /// An optional source (table, extension) is missing: down, but not holding
  /// /readyz back and not counted as an error.
  bool unavailable = false;
  std::uint64_t cycles = 0;  // every cycle, successful or not
  std::uint64_t woken_cycles = 0;  // cycles started early by Wake()
  bool pending_work = false;       // HasPendingWork() after the last successful cycle
  double last_duration_seconds = 0;
  double total_duration_seconds = 0;
  std::optional<Clock::time_point> last_success;
  std::optional<Clock::time_point> failing_since;
  std::string last_error;  // redacted
};

/// Runs every collector on its own thread at its own interval and publishes the
/// latest snapshot of each. A failing collector keeps its last snapshot, reports
/// itself down, logs once per state change and retries with backoff; the others
/// are not affected. Gather() never touches the database.
class Scheduler {
 public:
  /// A woken cycle starts no sooner than this many times the last cycle's duration
  /// after that cycle's start: at most a quarter of a core for a collector that
  /// notifications keep waking (at 2 000 workspaces a realtime cycle rebuilds every
  /// workspace in 50-90 ms and was woken 11 times a second).
  static constexpr int kWokenCycleSpacing = 4;

  /// min_wake_gap: the least time between the starts of two cycles of a collector
  /// when Wake() asks for early ones, so a burst of changes costs one cycle (a
  /// collector's schedule.notify_coalesce overrides it for its woken cycles, and
  /// kWokenCycleSpacing times its last cycle lengthens both; a backlog always uses
  /// min_wake_gap).
  /// clock stamps successes and failures; steady_clock times cycles, intervals,
  /// backoffs and gaps, and every wait goes through it.
  Scheduler(std::vector<ScheduledCollector> collectors, const Clock& clock, Logger& logger,
            std::chrono::milliseconds min_wake_gap = std::chrono::milliseconds(20),
            const SteadyClock& steady_clock = RealSteadyClock::Instance());
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void Start();
  void Stop();
  /// Asks the collector called name for a cycle now instead of at its next
  /// interval (a change notification). Requests made while a cycle runs or within
  /// min_wake_gap of its start fold into one; a failing collector keeps its backoff.
  void Wake(std::string_view name);
  /// Runs one cycle of collector index on the calling thread; true on success.
  bool RunOnce(size_t index);
  /// Whether each collector's snapshot is kept next to its rendered text (the
  /// default). Gather() needs them (per-workspace views render each request); without
  /// them a cycle renders its snapshot in place and frees it: no copy, and about
  /// 3 MB less memory at 7 k series. Call before Start().
  void KeepSnapshots(bool keep) { keep_snapshots_ = keep; }
  /// Latest snapshot of every collector plus the collector self-metrics; without
  /// KeepSnapshots, the self-metrics alone.
  std::vector<prometheus::MetricFamily> Gather() const;
  /// The collector self-metrics alone.
  std::vector<prometheus::MetricFamily> GatherSelf() const;
  /// Latest snapshot of every collector, rendered in the text format when it was
  /// taken (on the collector's thread), so a scrape only joins bytes.
  std::vector<std::shared_ptr<const RenderedFamilies>> Rendered() const;
  std::vector<CollectorStatus> Status() const;
  /// Ready once every collector has succeeded and none has been failing for more
  /// than 3 of its intervals. body receives the JSON state of each collector, with
  /// its last error text unless with_errors is false (scoped workspace tokens).
  bool Ready(std::string* body, bool with_errors = true) const;
  size_t size() const { return slots_.size(); }

  static std::span<const FamilySpec> Families();

 private:
  struct Slot {
    ScheduledCollector c;
    std::shared_ptr<const Snapshot> snapshot;  // guarded by mutex_
    std::shared_ptr<const RenderedFamilies> rendered;  // snapshot as text; guarded by mutex_
    CollectorStatus status;                    // guarded by mutex_
    int consecutive_failures = 0;              // collector thread only
    bool logged_unavailable = false;           // collector thread only
    bool wake_requested = false;               // guarded by mutex_
  };
  void Loop(size_t index);
  /// True once every collector has run its first cycle (successful or not).
  bool AllFirstCyclesEndedLocked() const;
  std::chrono::milliseconds Backoff(const Slot& slot) const;

  const Clock& clock_;
  const SteadyClock& steady_clock_;
  Logger& logger_;
  const std::chrono::milliseconds min_wake_gap_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::thread> threads_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  bool keep_snapshots_ = true;
  // Asked after every cycle, trims at most every 5 s when 1 MiB or more is free:
  // as low a steady RSS as every second, for a quarter of its CPU (docs/benchmarks.md).
  HeapTrimmer heap_trimmer_{std::chrono::seconds(5), std::size_t{1} << 20, steady_clock_};
};

}  // namespace aee
