#pragma once

// The metrics kit every collector builds its snapshot with: family specs as data,
// a checked builder, exact histograms, label-value repair, time formatting.

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/clock.h"

namespace aee {

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

/// Formats microseconds since the epoch as a PostgreSQL timestamptz literal (UTC).
std::string FormatTimestampUs(std::int64_t us);
/// RFC 3339 in UTC with milliseconds ("2026-11-30T05:31:56.123Z"), as the live API writes times.
std::string FormatRfc3339Millis(std::int64_t us);
/// Microseconds since the epoch of a clock time point.
std::int64_t ToUnixMicros(Clock::time_point t);

}  // namespace aee
