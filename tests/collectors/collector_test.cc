#include "collectors/collector.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace aee {
namespace {

using prometheus::MetricType;

TEST(LatencyBucketsTest, HoldTheSpecBoundariesAndSpan) {
  auto b = LatencyBuckets();
  for (double edge : {1.0, 5.0, 10.0, 30.0, 60.0}) {
    EXPECT_NE(std::find(b.begin(), b.end(), edge), b.end()) << edge;
  }
  EXPECT_LE(b.front(), 0.05);
  EXPECT_GE(b.back(), 3600);
  for (size_t i = 1; i < b.size(); ++i) {
    EXPECT_GT(b[i], b[i - 1]);
    EXPECT_LE(b[i] / b[i - 1], 2.5) << "gap between " << b[i - 1] << " and " << b[i];
  }
}

TEST(ExactHistogramTest, ObserveUsesLessOrEqual) {
  const double bounds[] = {1, 5};
  ExactHistogram h(bounds);
  h.Observe(1.0, 1'000'000);  // on the bound: first bucket
  h.Observe(1.5, 1'500'000);
  h.Observe(9.0, 9'000'000);  // only +Inf
  auto c = h.ToClient();
  EXPECT_EQ(c.sample_count, 3u);
  EXPECT_DOUBLE_EQ(c.sample_sum, 11.5);
  ASSERT_EQ(c.bucket.size(), 2u);
  EXPECT_EQ(c.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(c.bucket[1].cumulative_count, 2u);
}

TEST(ExactHistogramTest, MergeEqualsObserve) {
  const double bounds[] = {1, 5, 10};
  ExactHistogram observed(bounds), merged(bounds);
  for (double v : {0.5, 0.7, 3.0, 7.0, 12.0}) observed.Observe(v, static_cast<std::int64_t>(v * 1e6));
  const std::uint64_t cumulative[] = {2, 3, 4};
  merged.Merge(5, 23'200'000, cumulative);
  auto a = observed.ToClient(), b = merged.ToClient();
  EXPECT_EQ(a.sample_count, b.sample_count);
  EXPECT_EQ(a.sample_sum, b.sample_sum);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a.bucket[i].cumulative_count, b.bucket[i].cumulative_count);
}

TEST(ExactHistogramTest, MergeRejectsNonCumulative) {
  const double bounds[] = {1, 5};
  ExactHistogram h(bounds);
  const std::uint64_t bad[] = {3, 2};
  EXPECT_THROW(h.Merge(3, 0, bad), std::logic_error);
}

TEST(FamilyBuilderTest, ChecksLabelCount) {
  constexpr FamilySpec spec{"x", MetricType::Gauge, "h", {"a", "b"}};
  FamilyBuilder b(spec);
  EXPECT_THROW(b.Add({"only-one"}, 1), std::logic_error);
  b.Add({"1", "2"}, 3);
  auto f = b.Take();
  ASSERT_EQ(f.metric.size(), 1u);
  EXPECT_EQ(f.metric[0].label[1].name, "b");
  EXPECT_EQ(f.metric[0].gauge.value, 3);
}

TEST(FormatTimestampTest, FormatsUtcMicros) {
  EXPECT_EQ(FormatTimestampUs(0), "1970-01-01 00:00:00.000000+00");
  EXPECT_EQ(FormatTimestampUs(1'795'651'200'123'456), "2026-11-26 00:00:00.123456+00");
  EXPECT_EQ(FormatTimestampUs(-1), "1969-12-31 23:59:59.999999+00");
}

}  // namespace
}  // namespace aee
