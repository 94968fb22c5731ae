#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

namespace aee {

/// Merges families that share a name (several sources may publish the same
/// family, e.g. agent_exporter_rows_skipped_total) and sorts them by name, so the
/// exposition holds each HELP/TYPE block once and in a stable order.
std::vector<prometheus::MetricFamily> MergeFamilies(std::vector<prometheus::MetricFamily> families);

/// Prometheus text format 0.0.4.
std::string SerializeText(const std::vector<prometheus::MetricFamily>& families);

/// gzip-compresses data (RFC 1952). Throws std::runtime_error on zlib failure.
std::string GzipCompress(std::string_view data);

/// Whether an Accept-Encoding header value allows gzip (q=0 refuses it).
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace aee
