// The platform model and its deterministic draws: tools/sim/platform.cc.

#include <gtest/gtest.h>

#include <cmath>
#include <ctime>

#include "tools/sim/platform.h"

namespace aee::sim {
namespace {

Micros At(int year, int mon, int day, int hour) {
  tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = mon - 1;
  t.tm_mday = day;
  t.tm_hour = hour;
  return static_cast<Micros>(timegm(&t)) * kSecond;
}

TEST(PlatformTest, SameSeedSameEntities) {
  PlatformOptions o;
  o.seed = 42;
  const Platform a(o);
  const Platform b(o);
  o.seed = 43;
  const Platform c(o);
  ASSERT_EQ(a.agents().size(), 15u);
  ASSERT_EQ(a.workers().size(), 8u);
  for (size_t i = 0; i < a.agents().size(); ++i) {
    EXPECT_EQ(a.agents()[i].id, b.agents()[i].id);
    EXPECT_DOUBLE_EQ(a.agents()[i].runtime_median_s, b.agents()[i].runtime_median_s);
    EXPECT_FALSE(a.agents()[i].id == c.agents()[i].id);
  }
  EXPECT_EQ(a.workspaces()[0].id.Str(), b.workspaces()[0].id.Str());
  EXPECT_EQ(a.workspaces()[0].id.Str().size(), 36u);
}

TEST(PlatformTest, ShapeHasWeeklyMeanOneQuietNightsAndWeekends) {
  const Platform p(PlatformOptions{});
  double sum = 0;
  const Micros monday = At(2024, 5, 6, 0);
  for (int h = 0; h < 7 * 24; ++h) sum += p.Shape(monday + h * 3600 * kSecond + 1800 * kSecond);
  EXPECT_NEAR(sum / (7 * 24), 1.0, 0.02);
  EXPECT_LT(p.Shape(At(2024, 5, 7, 3)) * 3, p.Shape(At(2024, 5, 7, 14)));     // Tue night vs day
  EXPECT_LT(p.Shape(At(2024, 5, 11, 14)) * 2, p.Shape(At(2024, 5, 7, 14)));    // Sat vs Tue
  EXPECT_LE(p.Shape(At(2024, 5, 7, 14)), p.PeakShape() + 1e-9);
}

TEST(PlatformTest, DrawsAreReproducibleAndConsistent) {
  const Platform p(PlatformOptions{});
  Modifiers none;
  int failed = 0;
  for (uint64_t i = 0; i < 2000; ++i) {
    Rng r1 = Rng::Derive(1, 2, i);
    Rng r2 = Rng::Derive(1, 2, i);
    const RunPlan a = p.DrawRun(static_cast<int>(i % 15), r1, none);
    const RunPlan b = p.DrawRun(static_cast<int>(i % 15), r2, none);
    EXPECT_EQ(a.runtime, b.runtime);
    EXPECT_EQ(a.calls.size(), b.calls.size());
    EXPECT_GT(a.runtime, 0);
    for (const auto& c : a.calls) {
      EXPECT_LE(c.offset, a.runtime);  // every call happens inside the run
      EXPECT_GT(c.latency_s, 0);
      EXPECT_GT(c.cost_usd, 0);
    }
    if (a.outcome == Outcome::kCompleted) {
      EXPECT_FALSE(a.calls.empty());
    }
    failed += a.outcome == Outcome::kFailed;
  }
  EXPECT_LT(failed, 2000 * 0.12);
  Modifiers surge;
  surge.failure_p_floor = 0.8;
  int surged = 0;
  for (uint64_t i = 0; i < 2000; ++i) {
    Rng r = Rng::Derive(1, 2, i);
    surged += p.DrawRun(static_cast<int>(i % 15), r, surge).outcome == Outcome::kFailed;
  }
  EXPECT_GT(surged, 2000 * 0.75);
}

TEST(PlatformTest, SlowModelStretchesCallsAndRuns) {
  const Platform p(PlatformOptions{});
  Modifiers slow;
  slow.model_latency_factor = 5;
  double base_latency = 0;
  double slow_latency = 0;
  for (uint64_t i = 0; i < 500; ++i) {
    Rng r1 = Rng::Derive(9, 9, i);
    Rng r2 = Rng::Derive(9, 9, i);
    const RunPlan a = p.DrawRun(static_cast<int>(i % 15), r1, Modifiers{});
    const RunPlan b = p.DrawRun(static_cast<int>(i % 15), r2, slow);
    for (const auto& c : a.calls) base_latency += c.latency_s;
    for (const auto& c : b.calls) slow_latency += c.latency_s;
    if (a.outcome == Outcome::kCompleted) {
      EXPECT_GE(b.runtime, a.runtime);
    }
  }
  EXPECT_NEAR(slow_latency / base_latency, 5.0, 0.25);  // failed runs lose late calls
}

TEST(PlatformTest, FormatsAndIds) {
  EXPECT_EQ(FormatTimestamp(At(2024, 2, 29, 23) + 59 * 60 * kSecond + 1'000'001),
            "2024-02-29 23:59:01.000001+00");
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01 00:00:00.000000+00");
  EXPECT_EQ(FormatSeconds(1'500'000), "1.500000");
  EXPECT_EQ(FormatSeconds(-250), "-0.000250");
  const Uuid early = TimeOrderedUuid(At(2024, 1, 1, 0), 1, 1, 7);
  const Uuid late = TimeOrderedUuid(At(2024, 1, 1, 1), 1, 1, 3);
  EXPECT_LT(early.Str(), late.Str());
  EXPECT_EQ(early.Str()[14], '7');  // version 7 layout
  EXPECT_EQ(KeyedUuid(1, 1, 1).Str()[14], '4');
}

}  // namespace
}  // namespace aee::sim
