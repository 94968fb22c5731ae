#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/metric_family.h>

namespace aee::testing {

using Labels = std::map<std::string, std::string>;

/// The metric of family name whose labels equal labels exactly, if any.
std::optional<prometheus::ClientMetric> Find(const std::vector<prometheus::MetricFamily>& families,
                                             const std::string& name, const Labels& labels);
/// Counter/gauge value (NaN-free: fails the test when missing).
double Value(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
             const Labels& labels);
/// Number of series of a family (0 when absent).
size_t SeriesCount(const std::vector<prometheus::MetricFamily>& families, const std::string& name);
/// Serialized text of the families whose name starts with prefix (sorted lines).
std::string Text(const std::vector<prometheus::MetricFamily>& families, const std::string& prefix = "");

/// Prometheus' histogram_quantile over cumulative buckets (linear interpolation
/// inside the bucket, lowest bucket starting at 0), as PromQL computes it.
double HistogramQuantile(double q, const prometheus::ClientMetric::Histogram& h);

}  // namespace aee::testing
