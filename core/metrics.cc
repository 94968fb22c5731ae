#include "core/metrics.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace aee {
namespace {

constexpr std::array<double, 28> kLatencyBuckets = {
    0.05, 0.1, 0.25, 0.5, 0.75, 1,   1.5, 2,   3,    5,    7.5,  10,   15,   20,
    30,   45,  60,   90,  120,  180, 300, 450, 600, 900, 1200, 1800, 2700, 3600};

}  // namespace

namespace {

// Length of the well-formed UTF-8 sequence starting at s[i], 0 when there is none
// (Unicode Table 3-7).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

}  // namespace

std::string ToValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  return out;
}

namespace {

bool IsAscii(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

size_t FamilySpec::label_count() const {
  size_t n = 0;
  while (n < labels.size() && !labels[n].empty()) ++n;
  return n;
}

FamilyBuilder::FamilyBuilder(const FamilySpec& spec) : spec_(spec) {
  family_.name = std::string(spec.name);
  family_.help = std::string(spec.help);
  family_.type = spec.type;
}

prometheus::ClientMetric& FamilyBuilder::NewMetric(std::span<const std::string_view> values) {
  if (values.size() != spec_.label_count()) {
    throw std::logic_error("metric " + family_.name + ": expected " +
                           std::to_string(spec_.label_count()) + " label values, got " +
                           std::to_string(values.size()));
  }
  prometheus::ClientMetric& m = family_.metric.emplace_back();
  m.label.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    m.label.push_back({std::string(spec_.labels[i]),
                       IsAscii(values[i]) ? std::string(values[i]) : ToValidUtf8(values[i])});
  }
  return m;
}

void FamilyBuilder::Add(std::initializer_list<std::string_view> label_values, double value) {
  prometheus::ClientMetric& m = NewMetric({label_values.begin(), label_values.size()});
  switch (spec_.type) {
    case prometheus::MetricType::Counter: m.counter.value = value; break;
    case prometheus::MetricType::Gauge: m.gauge.value = value; break;
    case prometheus::MetricType::Untyped: m.untyped.value = value; break;
    default: throw std::logic_error("metric " + family_.name + ": not a scalar family");
  }
}

void FamilyBuilder::AddHistogram(std::initializer_list<std::string_view> label_values,
                                 const prometheus::ClientMetric::Histogram& histogram) {
  if (spec_.type != prometheus::MetricType::Histogram) {
    throw std::logic_error("metric " + family_.name + ": not a histogram family");
  }
  NewMetric({label_values.begin(), label_values.size()}).histogram = histogram;
}

void FamilyBuilder::AddValues(const std::vector<std::string>& label_values, double value) {
  std::vector<std::string_view> views(label_values.begin(), label_values.end());
  prometheus::ClientMetric& m = NewMetric(views);
  switch (spec_.type) {
    case prometheus::MetricType::Counter: m.counter.value = value; break;
    case prometheus::MetricType::Gauge: m.gauge.value = value; break;
    case prometheus::MetricType::Untyped: m.untyped.value = value; break;
    default: throw std::logic_error("metric " + family_.name + ": not a scalar family");
  }
}

void FamilyBuilder::AddHistogramValues(const std::vector<std::string>& label_values,
                                       const prometheus::ClientMetric::Histogram& histogram) {
  if (spec_.type != prometheus::MetricType::Histogram) {
    throw std::logic_error("metric " + family_.name + ": not a histogram family");
  }
  std::vector<std::string_view> views(label_values.begin(), label_values.end());
  NewMetric(views).histogram = histogram;
}

std::span<const double> LatencyBuckets() { return kLatencyBuckets; }

ExactHistogram::ExactHistogram(std::span<const double> bounds)
    : bounds_(bounds), buckets_(bounds.size(), 0) {}

void ExactHistogram::Observe(double value, std::int64_t value_us) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      ++buckets_[i];
      break;
    }
  }
  ++count_;
  sum_us_ = SaturatingAdd(sum_us_, value_us);
}

void ExactHistogram::Add(size_t index, std::uint64_t count, std::int64_t sum_us) {
  if (index > bounds_.size()) throw std::logic_error("histogram bucket index out of range");
  if (index < bounds_.size()) buckets_[index] += count;
  count_ += count;
  sum_us_ = SaturatingAdd(sum_us_, sum_us);
}

prometheus::ClientMetric::Histogram ExactHistogram::ToClient() const {
  prometheus::ClientMetric::Histogram h;
  h.sample_count = count_;
  h.sample_sum = static_cast<double>(sum_us_) / 1e6;
  h.bucket.reserve(bounds_.size());
  std::uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i];
    h.bucket.push_back({cumulative, bounds_[i]});
  }
  return h;
}

namespace {

// us as a UTC calendar time: date-time separator, fraction digits (6 or 3, the
// fraction rounded down) and zone suffix as given.
std::string FormatUtc(std::int64_t us, char separator, int fraction_digits, const char* zone) {
  std::int64_t secs = us / 1000000;
  std::int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  if (fraction_digits == 3) frac /= 1000;
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[128];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d%c%02d:%02d:%02d.%0*" PRId64 "%s", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, separator, tm.tm_hour, tm.tm_min, tm.tm_sec, fraction_digits, frac, zone);
  return buf;
}

}  // namespace

std::string FormatTimestampUs(std::int64_t us) { return FormatUtc(us, ' ', 6, "+00"); }

std::string FormatRfc3339Millis(std::int64_t us) { return FormatUtc(us, 'T', 3, "Z"); }

std::int64_t ToUnixMicros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace aee
