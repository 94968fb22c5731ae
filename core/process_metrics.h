#pragma once

#include <span>
#include <vector>

#include <prometheus/metric_family.h>

#include "core/metrics.h"

namespace aee {

/// The standard process_* metrics (CPU, memory, fds, start time) read from /proc.
std::vector<prometheus::MetricFamily> ProcessMetrics();

/// The families ProcessMetrics() fills.
std::span<const FamilySpec> ProcessFamilies();

}  // namespace aee
