#include "exporter/exposition.h"

#include <gtest/gtest.h>

#include "collectors/collector.h"
#include "tests/support/http_client.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kSkipped{"agent_exporter_rows_skipped_total", MetricType::Counter, "h", {"collector", "reason"}};
constexpr FamilySpec kA{"a_metric", MetricType::Gauge, "help a", {}};

TEST(MergeFamiliesTest, MergesSameNameAndSorts) {
  FamilyBuilder s1(kSkipped), s2(kSkipped), a(kA);
  s1.Add({"runs", "negative_duration"}, 2);
  s2.Add({"models", "unknown_model"}, 1);
  a.Add({}, 5);
  auto merged = MergeFamilies({s1.Take(), a.Take(), s2.Take()});
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].name, "a_metric");
  EXPECT_EQ(merged[1].metric.size(), 2u);
  const std::string text = SerializeText(merged);
  EXPECT_EQ(text.find("# TYPE agent_exporter_rows_skipped_total"), text.rfind("# TYPE agent_exporter_rows_skipped_total"));
}

TEST(MergeFamiliesTest, DropsEmptyFamilies) {
  FamilyBuilder a(kA);
  EXPECT_TRUE(MergeFamilies({a.Take()}).empty());
}

TEST(GzipTest, RoundTrips) {
  std::string data;
  for (int i = 0; i < 10000; ++i) data += "agent_runs_running{workspace_id=\"" + std::to_string(i) + "\"} 0\n";
  const std::string gz = GzipCompress(data);
  EXPECT_LT(gz.size(), data.size() / 5);
  EXPECT_EQ(testing::Gunzip(gz), data);
  EXPECT_EQ(testing::Gunzip(GzipCompress("")), "");
}

TEST(AcceptsGzipTest, ReadsAcceptEncoding) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("identity, *"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("br, deflate"));
  EXPECT_FALSE(AcceptsGzip("gzipx"));
}

}  // namespace
}  // namespace aee
