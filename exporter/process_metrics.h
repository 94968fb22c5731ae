#pragma once

#include <vector>

#include <prometheus/metric_family.h>

namespace aee {

/// The standard process_* metrics (CPU, memory, fds, start time) read from /proc.
std::vector<prometheus::MetricFamily> ProcessMetrics();

}  // namespace aee
