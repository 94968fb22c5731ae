#include "collectors/collector.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/exposition.h"

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

TEST(ExactHistogramTest, AddEqualsObserve) {
  const double bounds[] = {1, 5, 10};
  ExactHistogram observed(bounds), added(bounds);
  for (double v : {0.5, 0.7, 3.0, 7.0, 12.0}) observed.Observe(v, static_cast<std::int64_t>(v * 1e6));
  added.Add(0, 2, 1'200'000);
  added.Add(1, 1, 3'000'000);
  added.Add(2, 1, 7'000'000);
  added.Add(3, 1, 12'000'000);  // index size() is +Inf
  auto a = observed.ToClient(), b = added.ToClient();
  EXPECT_EQ(a.sample_count, b.sample_count);
  EXPECT_EQ(a.sample_sum, b.sample_sum);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a.bucket[i].cumulative_count, b.bucket[i].cumulative_count);
}

TEST(ExactHistogramTest, AddRejectsAnIndexPastInf) {
  const double bounds[] = {1, 5};
  ExactHistogram h(bounds);
  EXPECT_THROW(h.Add(3, 1, 0), std::logic_error);
  EXPECT_EQ(h.count(), 0u);
}

TEST(LatencyCodeTest, SkipReasonsNameTheCode) {
  EXPECT_EQ(LatencySkipReason(kLatencyMissing, "missing_timestamp"), "missing_timestamp");
  EXPECT_EQ(LatencySkipReason(kLatencyInvalid, "x"), "invalid_value");
  EXPECT_EQ(LatencySkipReason(kLatencyNegative, "x"), "negative_duration");
  EXPECT_THROW(LatencySkipReason(kLatencyNone, "x"), std::logic_error);
  EXPECT_THROW(LatencySkipReason(3, "x"), std::logic_error);
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

TEST(ToValidUtf8Test, KeepsValidTextAndReplacesEveryInvalidByte) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(ToValidUtf8("plain \"quoted\"\n\\"), "plain \"quoted\"\n\\");
  EXPECT_EQ(ToValidUtf8("\xC3\xA9 \xE2\x82\xAC \xF0\x9F\xA4\x96"), "\xC3\xA9 \xE2\x82\xAC \xF0\x9F\xA4\x96");
  EXPECT_EQ(ToValidUtf8("a\xFF\xFE" "b"), "a" + fffd + fffd + "b");
  EXPECT_EQ(ToValidUtf8("\x80"), fffd);                            // stray continuation
  EXPECT_EQ(ToValidUtf8("x\xE2\x82"), "x" + fffd + fffd);          // truncated at the end
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), fffd + fffd);                 // overlong "/"
  EXPECT_EQ(ToValidUtf8("\xE0\x80\xAF"), fffd + fffd + fffd);      // overlong, 3 bytes
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), fffd + fffd + fffd);      // surrogate U+D800
  EXPECT_EQ(ToValidUtf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(ToValidUtf8("\xF4\x8F\xBF\xBF"), "\xF4\x8F\xBF\xBF");  // U+10FFFF itself
  EXPECT_EQ(ToValidUtf8(""), "");
}

TEST(FamilyBuilderTest, LabelValuesBecomeValidUtf8) {
  constexpr FamilySpec spec{"x_info", MetricType::Gauge, "h", {"name"}};
  FamilyBuilder b(spec);
  b.Add({"bad \xFF name"}, 1);
  b.AddValues({"\xC3\xA9t\xC3\xA9"}, 1);
  auto f = b.Take();
  EXPECT_EQ(f.metric[0].label[0].value, "bad \xEF\xBF\xBD name");
  EXPECT_EQ(f.metric[1].label[0].value, "\xC3\xA9t\xC3\xA9");
}

// Display names from the database: quotes, backslashes, newlines and bytes that are
// not UTF-8 (a SQL_ASCII database stores them) still give a valid exposition.
TEST(FamilyBuilderTest, HostileLabelValuesSerializeToAValidExposition) {
  constexpr FamilySpec spec{"agent_info", MetricType::Gauge, "h", {"agent_id", "agent_name"}};
  FamilyBuilder b(spec);
  b.Add({"1", "say \"hi\"\\\nbye"}, 1);
  b.Add({"2", "bad \xFF\xFE \xC0\xAF"}, 1);
  b.Add({"3", std::string(10000, 'x')}, 1);
  const std::string text = SerializeText(MergeFamilies({b.Take()}));
  EXPECT_NE(text.find("agent_name=\"say \\\"hi\\\"\\\\\\nbye\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("agent_name=\"bad \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\"} 1\n"), std::string::npos) << text;
  EXPECT_EQ(ToValidUtf8(text), text);
  size_t lines = 0;
  for (char c : text) lines += c == '\n' ? 1 : 0;
  EXPECT_EQ(lines, 5u);  // HELP, TYPE and three samples: no raw newline escaped the quotes
}

TEST(FormatTimestampTest, FormatsUtcMicros) {
  EXPECT_EQ(FormatTimestampUs(0), "1970-01-01 00:00:00.000000+00");
  EXPECT_EQ(FormatTimestampUs(1'795'651'200'123'456), "2026-11-26 00:00:00.123456+00");
  EXPECT_EQ(FormatTimestampUs(-1), "1969-12-31 23:59:59.999999+00");
}

}  // namespace
}  // namespace aee
