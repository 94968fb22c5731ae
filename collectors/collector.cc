#include "collectors/collector.h"

#include <algorithm>
#include <cstdio>

#include <pqxx/pqxx>

namespace aee {

void RequireTable(pqxx::transaction_base& tx, std::string_view quoted_schema, std::string_view table) {
  const std::string name = std::string(quoted_schema) + "." + std::string(table);
  if (tx.exec_params1("SELECT to_regclass($1) IS NOT NULL", name)[0].as<bool>()) return;
  throw CollectorUnavailable("table " + name + " does not exist");
}

void ForEachBatch(pqxx::transaction_base& tx, std::string_view cursor, std::string_view sql,
                  const std::vector<std::string>& params, size_t batch_rows,
                  const std::function<void(const pqxx::result&)>& each_batch) {
  batch_rows = std::max<size_t>(batch_rows, 1);
  tx.exec_params("DECLARE " + std::string(cursor) + " NO SCROLL CURSOR FOR " + std::string(sql),
                 pqxx::prepare::make_dynamic_params(params));
  const std::string fetch = "FETCH FORWARD " + std::to_string(batch_rows) + " FROM " + std::string(cursor);
  while (true) {
    const pqxx::result batch = tx.exec(fetch);
    if (!batch.empty()) each_batch(batch);
    if (batch.size() < batch_rows) return;  // a short batch is the last one
  }
}

std::string LatencyCodeSql(std::string_view value, std::string_view none_when) {
  // width_bucket(x, ascending thresholds) counts the thresholds <= x; over the
  // negated bounds that is the number of bounds >= value, so the index of the
  // first bound >= value is size() minus it.
  const std::span<const double> buckets = LatencyBuckets();
  std::string thresholds;
  for (auto it = buckets.rbegin(); it != buckets.rend(); ++it) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", -*it);
    thresholds += (thresholds.empty() ? "" : ",") + std::string(buf);
  }
  const std::string v(value);
  return "CASE WHEN " + std::string(none_when) + " THEN " + std::to_string(kLatencyNone) + " WHEN " + v +
         " IS NULL THEN " + std::to_string(kLatencyMissing) + " WHEN " + v + " = 'NaN'::float8 OR " + v +
         " > 1e12 THEN " + std::to_string(kLatencyInvalid) + " WHEN " + v + " < 0 THEN " +
         std::to_string(kLatencyNegative) + " ELSE " + std::to_string(buckets.size()) +
         " - width_bucket(-" + v + ", ARRAY[" + thresholds + "]::float8[]) END";
}

std::string LatencyMicrosSql(std::string_view value, std::string_view code) {
  return "CASE WHEN " + std::string(code) + " >= 0 THEN round(" + std::string(value) + " * 1000000)::bigint END";
}

std::string CappedSumSql(std::string_view expr) {
  return "least(coalesce(sum(" + std::string(expr) + "), 0), 9223372036854775807)::bigint";
}

std::string LatencySkipReason(int code, std::string_view missing_reason) {
  switch (code) {
    case kLatencyMissing: return std::string(missing_reason);
    case kLatencyInvalid: return "invalid_value";
    case kLatencyNegative: return "negative_duration";
    default: throw std::logic_error("not a latency skip code: " + std::to_string(code));
  }
}

}  // namespace aee
