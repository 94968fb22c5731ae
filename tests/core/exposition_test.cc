#include "core/exposition.h"

#include <gtest/gtest.h>

#include <limits>

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

// Pre-rendered sources joined at scrape time read exactly as serializing the merged
// families would: one header per family, sorted, samples in source order.
TEST(JoinRenderedTest, EqualsSerializingTheMergedFamilies) {
  constexpr FamilySpec kHist{"h_seconds", MetricType::Histogram, "a \"histogram\" with\\escapes", {"ws"}};
  constexpr FamilySpec kZ{"z_info", MetricType::Gauge, "z", {"name"}};
  auto source = [&](const std::string& collector, double v) {
    FamilyBuilder s(kSkipped), a(kA), h(kHist), z(kZ), empty(kA);
    s.Add({collector, "negative_duration"}, v);
    if (collector == "runs") a.Add({}, v);
    prometheus::ClientMetric::Histogram hist;
    hist.sample_count = 3;
    hist.sample_sum = 1.5;
    hist.bucket = {{1, 0.5}, {2, std::numeric_limits<double>::infinity()}};
    h.AddHistogram({collector}, hist);
    z.Add({"quote\" back\\slash\nnewline " + collector}, 1);
    std::vector<prometheus::MetricFamily> out{z.Take(), s.Take(), h.Take(), a.Take()};
    return out;
  };
  auto runs = source("runs", 2), models = source("models", 3);
  std::vector<prometheus::MetricFamily> all = runs;
  all.insert(all.end(), models.begin(), models.end());
  RenderedSources sources{std::make_shared<const RenderedFamilies>(RenderFamilies(runs)),
                          std::make_shared<const RenderedFamilies>(RenderFamilies(models))};
  const BodyPieces text = JoinRendered(sources), gzip = JoinRenderedGzip(sources);
  // The bodies keep what they point into alive after the sources are replaced (a
  // cycle publishes new ones while a scrape is still being written).
  sources.clear();
  EXPECT_EQ(text.Join(), SerializeText(MergeFamilies(all)));
  EXPECT_EQ(text.size(), text.Join().size());
  EXPECT_EQ(JoinRendered({}).Join(), "");
  // The gzip body made of pre-compressed chunks is one valid member.
  EXPECT_EQ(testing::Gunzip(gzip.Join()), text.Join());
  EXPECT_EQ(testing::Gunzip(JoinRenderedGzip({}).Join()), "");
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
