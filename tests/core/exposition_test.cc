#include "core/exposition.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>

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

// SerializeText is our own writer of the text format; prometheus-cpp 1.0.1's
// TextSerializer is the reference it must equal byte for byte: values at the edges of
// "%.16g" (whole numbers around 1e15/1e16, -0, subnormals, random bit patterns), every
// metric type, label values that need escaping, HELP texts, timestamps.
std::string Reference(const std::vector<prometheus::MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

double RandomValue(std::mt19937_64& rng) {
  static const double kEdges[] = {0.0, -0.0, 1.0, -1.0, 0.1, 0.3, 1.0 / 3, 16, 999999999999999.0, 1e15,
                                  1e15 + 1, 9999999999999998.0, 1e16, 12345678901234567.0, -1e15, 1e-7, 5e-324,
                                  2.2250738585072014e-308, 1.7976931348623157e308, 1700000000.123456, 0.30000000000000004,
                                  std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                                  std::numeric_limits<double>::quiet_NaN(), 4503599627370496.5, 123456.7890123456789};
  switch (rng() % 4) {
    case 0: return kEdges[rng() % std::size(kEdges)];
    case 1: return static_cast<double>(static_cast<std::int64_t>(rng() % 4000000000000000ull) - 2000000000000000);
    case 2: return std::ldexp(static_cast<double>(rng() % 1000000) / 7.0, static_cast<int>(rng() % 120) - 60);
    default: return std::bit_cast<double>(rng());  // any bit pattern: NaNs, subnormals, huge
  }
}

std::string RandomText(std::mt19937_64& rng) {
  static const std::string kPieces[] = {"a", "Z9", "\\", "\"", "\n", "\t", " ", "\r", "é", "{}", "=", ",", "le"};
  std::string out;
  for (size_t n = rng() % 5; n > 0; --n) out += kPieces[rng() % std::size(kPieces)];
  return out;
}

TEST(SerializeTextTest, EqualsPrometheusCppTextSerializerByteForByte) {
  std::mt19937_64 rng(20261130);
  for (int round = 0; round < 200; ++round) {
    std::vector<prometheus::MetricFamily> families;
    for (int f = 0; f < 5; ++f) {
      prometheus::MetricFamily family;
      family.name = "fam_" + std::to_string(f);
      family.help = rng() % 3 == 0 ? "" : "help " + RandomText(rng);
      family.type = static_cast<MetricType>(rng() % 5);
      for (size_t m = rng() % 6; m > 0; --m) {
        prometheus::ClientMetric metric;
        for (size_t l = rng() % 4; l > 0; --l) metric.label.push_back({"l" + std::to_string(l), RandomText(rng)});
        metric.timestamp_ms = rng() % 3 == 0 ? static_cast<std::int64_t>(rng() % 2000000) - 1000000 : 0;
        metric.counter.value = RandomValue(rng);
        metric.gauge.value = RandomValue(rng);
        metric.untyped.value = RandomValue(rng);
        metric.summary.sample_count = rng();
        metric.summary.sample_sum = RandomValue(rng);
        for (size_t q = rng() % 3; q > 0; --q) metric.summary.quantile.push_back({RandomValue(rng), RandomValue(rng)});
        metric.histogram.sample_count = rng();
        metric.histogram.sample_sum = RandomValue(rng);
        for (size_t b = rng() % 4; b > 0; --b) metric.histogram.bucket.push_back({rng(), RandomValue(rng)});
        family.metric.push_back(std::move(metric));
      }
      families.push_back(std::move(family));
    }
    ASSERT_EQ(SerializeText(families), Reference(families)) << "round " << round;
  }
}

TEST(SerializeTextTest, WholeNumbersAndTheirNeighboursAsPercentSixteenG) {
  prometheus::MetricFamily family;
  family.name = "v";
  family.type = MetricType::Gauge;
  for (double base : {0.0, 1.0, 1e14, 1e15, 1e16, 1e17}) {
    for (double v : {base, -base, std::nextafter(base, 0.0), std::nextafter(base, 1e300), base + 1, base - 1}) {
      prometheus::ClientMetric metric;
      metric.gauge.value = v;
      family.metric.push_back(metric);
    }
  }
  EXPECT_EQ(SerializeText({family}), Reference({family}));
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

// Families of a collector between cycles: some values move, series come and go,
// whole families appear and vanish.
std::vector<prometheus::MetricFamily> Evolve(std::mt19937_64& rng, std::vector<prometheus::MetricFamily> families) {
  for (auto& family : families) {
    for (auto& metric : family.metric) {
      if (rng() % 200 == 0) metric.gauge.value += 1;
    }
    if (rng() % 4 == 0 && !family.metric.empty()) family.metric.erase(family.metric.begin() + rng() % family.metric.size());
    if (rng() % 4 == 0) {
      prometheus::ClientMetric metric;
      metric.label = {{"ws", "new-" + std::to_string(rng() % 100000)}};
      family.metric.insert(family.metric.begin() + rng() % (family.metric.size() + 1), metric);
    }
  }
  if (rng() % 5 == 0 && !families.empty()) families.erase(families.begin() + rng() % families.size());
  if (rng() % 5 == 0) families.push_back({"fam_" + std::to_string(rng() % 9), "help", MetricType::Gauge, {}});
  return families;
}

TEST(RenderFamiliesTest, AfterAPreviousRenderIsByteForByteAFreshRender) {
  std::mt19937_64 rng(20261201);
  std::vector<prometheus::MetricFamily> families;
  for (int f = 0; f < 6; ++f) {
    prometheus::MetricFamily family{"fam_" + std::to_string(f), "help " + std::to_string(f), MetricType::Gauge, {}};
    for (size_t m = rng() % (3 * kLinesPerChunk); m > 0; --m) {
      prometheus::ClientMetric metric;
      metric.label = {{"ws", std::to_string(m)}};
      metric.gauge.value = static_cast<double>(rng() % 1000);
      family.metric.push_back(metric);
    }
    families.push_back(std::move(family));
  }
  auto previous = std::make_shared<const RenderedFamilies>(RenderFamilies(families));
  size_t reused = 0;
  for (int round = 0; round < 60; ++round) {
    families = Evolve(rng, std::move(families));
    RenderStats stats;
    auto again = std::make_shared<const RenderedFamilies>(RenderFamilies(families, previous.get(), &stats));
    const auto fresh = std::make_shared<const RenderedFamilies>(RenderFamilies(families));
    ASSERT_EQ(JoinRenderedGzip({again}).Join(), JoinRenderedGzip({fresh}).Join()) << "round " << round;
    ASSERT_EQ(testing::Gunzip(JoinRenderedGzip({again}).Join()), SerializeText(MergeFamilies(families)))
        << "round " << round;
    reused += stats.reused;
    previous = std::move(again);
  }
  EXPECT_GT(reused, 0u);
}

TEST(RenderFamiliesTest, RecompressesOnlyThePiecesWhoseTextChanged) {
  prometheus::MetricFamily big{"big", "help", MetricType::Gauge, {}};
  for (size_t m = 0; m < 4 * kLinesPerChunk; ++m) {
    prometheus::ClientMetric metric;
    metric.label = {{"ws", std::to_string(m)}};
    metric.gauge.value = 1;
    big.metric.push_back(metric);
  }
  const std::vector<prometheus::MetricFamily> first{big, {"small", "help", MetricType::Counter, {}}};
  RenderStats stats;
  const RenderedFamilies previous = RenderFamilies(first, nullptr, &stats);
  EXPECT_EQ(stats.reused, 0u);
  EXPECT_EQ(stats.chunks, 1 + 4u);  // "small" has no samples: it is dropped
  RenderFamilies(first, &previous, &stats);
  EXPECT_EQ(stats.reused, stats.chunks);

  big.metric[kLinesPerChunk + 3].gauge.value = 2;  // the second piece
  RenderFamilies({big}, &previous, &stats);
  EXPECT_EQ(stats.chunks, 5u);
  EXPECT_EQ(stats.reused, 4u);

  big.metric.erase(big.metric.begin());  // every piece's lines move
  RenderFamilies({big}, &previous, &stats);
  EXPECT_EQ(stats.reused, 1u);  // the header only
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
