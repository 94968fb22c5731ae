#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

#include "collectors/live_view.h"
#include "exporter/clock.h"

namespace pqxx {
class transaction_base;
class result;
}

namespace aee {

class DbSession;
class Logger;

/// What a collector publishes: complete metric families, swapped in as a whole.
using Snapshot = std::vector<prometheus::MetricFamily>;

/// One metric family declared as data: the contract users and dashboards rely on.
struct FamilySpec {
  std::string_view name;
  prometheus::MetricType type;
  std::string_view help;
  std::array<std::string_view, 4> labels{};  // unused slots stay empty

  size_t label_count() const;
};

/// Which share of the workspaces this exporter owns (--shard.count, --shard.index).
///
/// Shard i of n owns the workspaces whose WorkspaceShardHash(id) % n == i; rows with
/// no workspace (the shared worker pool, rows skipped for a missing workspace)
/// belong to shard 0.
struct ShardOptions {
  int count = 1;
  int index = 0;
  bool sharded() const { return count > 1; }
};

/// Everything a collector needs from the process, fixed at construction.
struct CollectorContext {
  std::string quoted_schema;  // already quoted, e.g. "public"
  const Clock* clock = nullptr;
  std::chrono::milliseconds timeout{10000};
  Logger* logger = nullptr;  // may be null in tests
  /// Live view consumers (the JSON API and WebSocket, issue #12); empty when none.
  LiveViewSink on_live_view;
  PoolLoadSink on_pool_loads;
  /// The workspaces this exporter owns: collectors read only theirs (ShardSql).
  ShardOptions shard;
  /// Told the hot standby's replay lag in seconds after each runs cycle (negative:
  /// not a standby, or unknown); empty when nobody asks (readiness, issue #16).
  std::function<void(double)> on_replay_lag;
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

/// Throws CollectorUnavailable unless table exists in quoted_schema (checked
/// with to_regclass, so a missing table never aborts the transaction).
void RequireTable(pqxx::transaction_base& tx, std::string_view quoted_schema, std::string_view table);

/// Runs sql, which takes the two text parameters from and to, through a cursor
/// and hands its rows to each_batch in batches of at most batch_rows, so a large
/// read (the start-up ledger, a sweep of the lateness window) never holds more
/// than one batch in libpq's memory. The cursor, called cursor, lives until tx
/// ends; each cursor name is used once per transaction.
void ForEachBatch(pqxx::transaction_base& tx, std::string_view cursor, std::string_view sql, const std::string& from,
                  const std::string& to, size_t batch_rows, const std::function<void(const pqxx::result&)>& each_batch);

/// text as valid UTF-8: every byte that does not belong to a well-formed sequence
/// (stray continuation, truncated, overlong, surrogate, above U+10FFFF) becomes
/// U+FFFD. Label values come from database text, which a SQL_ASCII database does
/// not check, and Prometheus rejects a scrape holding invalid UTF-8.
std::string ToValidUtf8(std::string_view text);

/// a + b, held at the int64 maximum instead of overflowing (sums of microseconds,
/// tokens and nanodollars over hostile rows; PostgreSQL's sums are capped alike).
inline std::int64_t SaturatingAdd(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return b > 0 ? INT64_MAX : INT64_MIN;
  return out;
}
inline std::uint64_t SaturatingAdd(std::uint64_t a, std::uint64_t b) {
  std::uint64_t out = 0;
  return __builtin_add_overflow(a, b, &out) ? UINT64_MAX : out;
}

/// Fills one family from label values, checking them against its spec. Label
/// values pass through ToValidUtf8.
class FamilyBuilder {
 public:
  explicit FamilyBuilder(const FamilySpec& spec);
  void Add(std::initializer_list<std::string_view> label_values, double value);
  void AddHistogram(std::initializer_list<std::string_view> label_values,
                    const prometheus::ClientMetric::Histogram& histogram);
  /// Same as Add/AddHistogram with label values in a vector (dynamic label sets).
  void AddValues(const std::vector<std::string>& label_values, double value);
  void AddHistogramValues(const std::vector<std::string>& label_values,
                          const prometheus::ClientMetric::Histogram& histogram);
  prometheus::MetricFamily Take() { return std::move(family_); }

 private:
  prometheus::ClientMetric& NewMetric(std::span<const std::string_view> values);
  const FamilySpec& spec_;
  prometheus::MetricFamily family_;
};

/// Latency histogram buckets (seconds) shared by the run histograms.
///
/// They contain 1, 5, 10, 30 and 60 so the spec's distribution (0-1s, 1-5s, 5-10s,
/// 10-30s, 30-60s, 60s+) is read off the buckets exactly, span 50 ms to 1 h, and grow
/// by at most 2x (mostly 1.5x) so histogram_quantile stays close to the exact
/// percentile (docs/metrics.md gives the measured error).
std::span<const double> LatencyBuckets();

/// A non-cumulative histogram with exact integer sums (microseconds), so two
/// exporters that saw the same rows in different orders expose identical values.
class ExactHistogram {
 public:
  explicit ExactHistogram(std::span<const double> bounds);
  void Observe(double value, std::int64_t value_us);
  /// Adds count observations summing sum_us to bucket index (bounds().size() = +Inf),
  /// as classified in SQL by LatencyCodeSql.
  void Add(size_t index, std::uint64_t count, std::int64_t sum_us);
  prometheus::ClientMetric::Histogram ToClient() const;
  std::uint64_t count() const { return count_; }
  std::int64_t sum_us() const { return sum_us_; }

 private:
  std::span<const double> bounds_;
  std::vector<std::uint64_t> buckets_;  // per bound, non-cumulative
  std::uint64_t count_ = 0;
  std::int64_t sum_us_ = 0;
};

/// How SQL classifies one latency observation (LatencyCodeSql): a value >= 0 is the
/// index of its LatencyBuckets() bucket (size() = +Inf); negative values say why the
/// row observes nothing.
enum LatencyCode : int {
  kLatencyNone = -1,      // the row observes no latency (skipped row, run never started)
  kLatencyMissing = -2,   // the value is NULL
  kLatencyInvalid = -3,   // NaN, infinite or above 1e12 s
  kLatencyNegative = -4,  // below 0
};
/// SQL expression (an int) classifying the float8 column `value` as a LatencyCode;
/// `none_when` is a condition under which the row observes nothing. The bucket is
/// the first bound >= value, as ExactHistogram::Observe picks it. `value` is named
/// five times: pass a column, not an expression.
std::string LatencyCodeSql(std::string_view value, std::string_view none_when);
/// SQL: the microseconds (bigint) of the float8 seconds column `value` when its
/// LatencyCode column `code` is a bucket, else NULL.
std::string LatencyMicrosSql(std::string_view value, std::string_view code);
/// SQL: sum of a bigint expression as a bigint, 0 over no rows, capped at INT64_MAX
/// like SaturatingAdd (sum(bigint) is numeric, so it cannot overflow before the cap).
std::string CappedSumSql(std::string_view expr);
/// The skip reason of a negative code other than kLatencyNone; `missing_reason`
/// names kLatencyMissing (the collectors call a NULL latency differently).
std::string LatencySkipReason(int code, std::string_view missing_reason);

/// Formats microseconds since the epoch as a PostgreSQL timestamptz literal (UTC).
std::string FormatTimestampUs(std::int64_t us);
/// RFC 3339 in UTC with milliseconds ("2026-11-30T05:31:56.123Z"), as the live API writes times.
std::string FormatRfc3339Millis(std::int64_t us);
/// Microseconds since the epoch of a clock time point.
std::int64_t ToUnixMicros(Clock::time_point t);

}  // namespace aee
