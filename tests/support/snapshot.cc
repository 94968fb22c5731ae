#include "tests/support/snapshot.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/exposition.h"

namespace aee::testing {

std::optional<prometheus::ClientMetric> Find(const std::vector<prometheus::MetricFamily>& families,
                                             const std::string& name, const Labels& labels) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      Labels got;
      for (const auto& l : m.label) got[l.name] = l.value;
      if (got == labels) return m;
    }
  }
  return std::nullopt;
}

double Value(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
             const Labels& labels) {
  for (const auto& f : families) {
    if (f.name != name) continue;
    auto m = Find(families, name, labels);
    if (!m) break;
    return f.type == prometheus::MetricType::Counter ? m->counter.value : m->gauge.value;
  }
  std::string desc;
  for (const auto& [k, v] : labels) desc += k + "=" + v + " ";
  ADD_FAILURE() << "no series " << name << "{" << desc << "}";
  return std::nan("");
}

size_t SeriesCount(const std::vector<prometheus::MetricFamily>& families, const std::string& name) {
  size_t n = 0;
  for (const auto& f : families) {
    if (f.name == name) n += f.metric.size();
  }
  return n;
}

std::string Text(const std::vector<prometheus::MetricFamily>& families, const std::string& prefix) {
  std::vector<prometheus::MetricFamily> selected;
  for (const auto& f : families) {
    if (f.name.rfind(prefix, 0) == 0) selected.push_back(f);
  }
  std::istringstream in(SerializeText(MergeFamilies(selected)));
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

double HistogramQuantile(double q, const prometheus::ClientMetric::Histogram& h) {
  const double total = static_cast<double>(h.sample_count);
  if (total == 0) return std::nan("");
  const double rank = q * total;
  double prev_bound = 0;
  double prev_count = 0;
  for (const auto& b : h.bucket) {
    const double count = static_cast<double>(b.cumulative_count);
    if (count >= rank) {
      if (count == prev_count) return b.upper_bound;
      return prev_bound + (b.upper_bound - prev_bound) * (rank - prev_count) / (count - prev_count);
    }
    prev_bound = b.upper_bound;
    prev_count = count;
  }
  return prev_bound;  // in the +Inf bucket: Prometheus returns the highest finite bound
}

}  // namespace aee::testing
