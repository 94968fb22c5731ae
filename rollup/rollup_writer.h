#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "collectors/daily_window.h"

namespace aee {
class DbSession;
class Logger;
}  // namespace aee

namespace aee::rollup {

/// Options of the writer (flags --rollup.*, rollup_config.h).
struct RollupOptions {
  std::string quoted_schema = "\"public\"";  // schema of the platform tables, quoted
  std::chrono::milliseconds lateness{std::chrono::minutes(5)};
  std::chrono::milliseconds sweep_interval{std::chrono::minutes(5)};
  std::chrono::milliseconds workers_stale_after{std::chrono::minutes(1)};
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// True when Sample() is called: aggregation then waits for a minute's samples
  /// to be flushed before it writes the minute.
  bool sampling = true;
  /// Minutes aggregated per statement (and per transaction) when catching up.
  int chunk_minutes = 60;
};

/// What the writer did so far (logs, tests, the benchmark).
struct RollupStats {
  std::uint64_t cycles = 0;
  std::uint64_t minutes_aggregated = 0;  // minute ranges read, summed over cycles
  std::uint64_t rows_written = 0;        // rows inserted or changed
  std::uint64_t samples = 0;
  std::int64_t last_from_us = 0;  // the last aggregated range [from, to)
  std::int64_t last_to_us = 0;
  bool last_sweep = false;
};

/// Writes analytics.execution_metrics_minute: one row per workspace and minute,
/// upserted (INSERT ... ON CONFLICT (workspace_id, minute) DO UPDATE).
///
/// A minute is written once it ended (plus the clock slack), and written again
/// while late commits can still land in it, by the runs collector's rules
/// (collectors/daily_window.h): each cycle re-aggregates the minutes from the
/// start of the oldest transaction that was open at the previous read, clamped to
/// the lateness window; a sweep re-aggregates the whole lateness window. Progress
/// (the end of the minutes aggregated so far) is committed with the rows in
/// analytics.rollup_progress, so a restart resumes from it, re-reading its
/// lateness window: no gap, and the unique key makes every write idempotent.
///
/// Queue depth and worker load are sampled by Sample(); each minute's sums are
/// flushed into analytics.rollup_samples once it ended (or at Shutdown()), adding
/// to what an earlier process flushed for the same minute, and the aggregation
/// derives the minute's max/avg columns from them.
///
/// Time is passed in (microseconds since the epoch), so tests are exact.
class RollupWriter {
 public:
  RollupWriter(RollupOptions options, Logger* logger);

  static constexpr std::int64_t kMinuteUs = 60'000'000;
  static std::int64_t MinuteStart(std::int64_t us);

  /// One aggregation cycle at now_us: catch up and re-aggregate what late commits
  /// may have changed. Throws pqxx exceptions; a failed cycle changes no state.
  void Cycle(DbSession& db, std::int64_t now_us);
  /// Re-aggregates every minute in [from_us, to_us) (minute-aligned) from the raw
  /// rows. Does not move the stored progress.
  void Backfill(DbSession& db, std::int64_t from_us, std::int64_t to_us);
  /// Takes one sample at now_us; first flushes the samples of minutes that ended.
  void Sample(DbSession& db, std::int64_t now_us);
  /// Flushes every sample taken, the current minute's too (before exiting).
  void Shutdown(DbSession& db);

  const RollupStats& stats() const { return stats_; }
  /// End of the minutes aggregated so far (0 before the first cycle).
  std::int64_t aggregated_to_us() const { return aggregated_to_us_; }

 private:
  struct WorkspaceSamples {
    std::int64_t depth_sum = 0;
    std::int64_t depth_max = 0;
    int cpu_samples = 0;
    double cpu_sum = 0;
    int memory_samples = 0;
    double memory_sum = 0;
    std::int64_t workers_max = 0;
  };
  struct MinuteSamples {
    int samples = 0;
    std::map<std::string, WorkspaceSamples> workspaces;
  };

  /// Aggregates [from_us, to_us) in chunks, each committed with the progress when
  /// store_progress. Returns rows written.
  std::uint64_t Aggregate(DbSession& db, std::int64_t from_us, std::int64_t to_us, bool store_progress);
  void Flush(DbSession& db, std::int64_t before_us);
  void ReadSchema(DbSession& db);

  RollupOptions options_;
  Logger* logger_;
  DailyWindow bound_reader_;  // the runs collector's frontier query (ReadBound)
  std::string aggregate_sql_;
  std::string sample_sql_;
  bool schema_read_ = false;
  bool has_workers_ = false;

  bool started_ = false;
  std::int64_t aggregated_to_us_ = 0;
  std::int64_t last_read_us_ = 0;
  std::int64_t bound_us_ = 0;
  std::int64_t last_sweep_us_ = 0;

  std::map<std::int64_t, MinuteSamples> pending_;  // minute start -> samples not flushed
  std::int64_t flushed_to_us_ = 0;                 // every sample before this is flushed
  RollupStats stats_;
};

}  // namespace aee::rollup
