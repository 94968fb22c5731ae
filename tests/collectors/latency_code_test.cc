// LatencyCodeSql against a real PostgreSQL: the bucket SQL picks is the bucket
// ExactHistogram::Observe picks, on every bound, next to it, and past the ends.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

// The bucket index Observe chooses for v (bounds().size() when only +Inf).
size_t ObservedIndex(double v) {
  const auto bounds = LatencyBuckets();
  ExactHistogram h(bounds);
  h.Observe(v, 0);
  const auto c = h.ToClient();
  for (size_t i = 0; i < c.bucket.size(); ++i) {
    if (c.bucket[i].cumulative_count == 1) return i;
  }
  return bounds.size();
}

std::string Literal(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "'%.17g'::float8", v);
  return buf;
}

TEST(LatencyCodeSqlTest, PicksTheBucketObservePicks) {
  testing::TestDb db;
  std::vector<double> values = {0, 1e-9, 3600.5, 86400, 1e12};
  for (double b : LatencyBuckets()) {
    values.push_back(b);
    values.push_back(std::nextafter(b, 0.0));
    values.push_back(std::nextafter(b, std::numeric_limits<double>::infinity()));
  }
  std::string rows;
  for (double v : values) rows += (rows.empty() ? "(" : ", (") + Literal(v) + ")";
  const pqxx::result r =
      db.Query("SELECT v, " + LatencyCodeSql("v", "false") + " FROM (VALUES " + rows + ") AS t(v)");
  ASSERT_EQ(r.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(r[i][1].as<int>(), static_cast<int>(ObservedIndex(values[i]))) << "value " << Literal(values[i]);
  }
}

TEST(LatencyCodeSqlTest, NamesWhyAValueIsNotObserved) {
  testing::TestDb db;
  const pqxx::result r = db.Query(
      "SELECT " + LatencyCodeSql("v", "skip") +
      " FROM (VALUES (1::float8, true), (NULL, false), ('NaN', false), ('Infinity', false), (1e13, false),"
      " ('-Infinity', false), (-0.001, false)) AS t(v, skip)");
  const std::vector<int> want = {kLatencyNone,    kLatencyMissing,  kLatencyInvalid, kLatencyInvalid,
                                 kLatencyInvalid, kLatencyNegative, kLatencyNegative};
  ASSERT_EQ(r.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(r[i][0].as<int>(), want[i]) << "row " << i;
}

}  // namespace
}  // namespace aee
