// Flag parsing and scenario specs: tools/sim/config.cc and tools/sim/scenario.cc.

#include <gtest/gtest.h>

#include "tools/sim/config.h"
#include "tools/sim/scenario.h"

namespace aee::sim {
namespace {

ParseResult Parse(std::vector<std::string> args, std::string env = "") {
  return ParseFlags(args, env);
}

TEST(ConfigTest, DefaultsAndBothFlagSpellings) {
  const auto r = Parse({"--db.url=postgresql:///x", "--live", "--rate", "7.5", "--workers=3",
                        "--duration", "90s", "--db.schema", "sim"});
  ASSERT_TRUE(r.config) << r.error;
  const Config& c = *r.config;
  EXPECT_EQ(c.db_url, "postgresql:///x");
  EXPECT_EQ(c.db_schema, "sim");
  EXPECT_TRUE(c.live);
  EXPECT_DOUBLE_EQ(c.platform.rate, 7.5);
  EXPECT_EQ(c.platform.workers, 3);
  EXPECT_EQ(c.platform.workspaces, 3);
  EXPECT_EQ(c.platform.agents_per_workspace, 5);
  EXPECT_EQ(c.platform.worker_slots, 4);
  EXPECT_EQ(c.duration, 90 * kSecond);
}

TEST(ConfigTest, DatabaseUrlFromEnvironment) {
  const auto r = Parse({"--init-schema"}, "host=/tmp dbname=p");
  ASSERT_TRUE(r.config) << r.error;
  EXPECT_EQ(r.config->db_url, "host=/tmp dbname=p");
  EXPECT_TRUE(r.config->init_schema);
}

TEST(ConfigTest, ErrorsNameTheFlag) {
  EXPECT_NE(Parse({"--db.url=x", "--live", "--bogus=1"}).error.find("--bogus"), std::string::npos);
  EXPECT_NE(Parse({"--db.url=x", "--live", "--rate=fast"}).error.find("--rate"), std::string::npos);
  EXPECT_NE(Parse({"--db.url=x", "--live", "--workers=0"}).error.find("--workers"), std::string::npos);
  EXPECT_NE(Parse({"--db.url=x", "--live", "--duration=soon"}).error.find("--duration"),
            std::string::npos);
  EXPECT_NE(Parse({"--db.url=x", "--live", "--scenario=meteor:start=1s"}).error.find("meteor"),
            std::string::npos);
  EXPECT_NE(Parse({"--db.url=x", "--live", "--seed"}).error.find("--seed"), std::string::npos);
  EXPECT_NE(Parse({"--live"}).error.find("--db.url"), std::string::npos);
  EXPECT_NE(Parse({"--db.url=x"}).error.find("nothing to do"), std::string::npos);
  EXPECT_NE(Parse({"--db.url=x", "--backfill-days=1", "--scenario=burst"}).error.find("--live"),
            std::string::npos);
  const auto bad = Parse({"--db.url=x", "--live", "--rate=fast"});
  EXPECT_FALSE(bad.config);
  EXPECT_EQ(bad.error.find('\n'), std::string::npos);
}

TEST(ConfigTest, HelpAndRepeatedScenarios) {
  EXPECT_TRUE(Parse({"--help"}).help);
  const auto r = Parse({"--db.url=x", "--live", "--scenario", "burst:start=30s,duration=60s,factor=5",
                        "--scenario=drop:start=2m,duration=10s"});
  ASSERT_TRUE(r.config) << r.error;
  ASSERT_EQ(r.config->scenarios.size(), 2u);
  EXPECT_EQ(r.config->scenarios[0].kind, ScenarioKind::kBurst);
  EXPECT_EQ(r.config->scenarios[0].start, 30 * kSecond);
  EXPECT_DOUBLE_EQ(r.config->scenarios[0].factor, 5);
  EXPECT_EQ(r.config->scenarios[1].kind, ScenarioKind::kDrop);
  EXPECT_EQ(r.config->scenarios[1].start, 120 * kSecond);
  EXPECT_DOUBLE_EQ(r.config->scenarios[1].factor, 0);
}

TEST(ScenarioTest, FlagAndControlFileSpellingsAgree) {
  std::string error;
  const auto a = ParseScenario("failure-surge:start=5s,duration=60s,factor=0.6", &error);
  const auto b = ParseScenario("failure-surge start=5s duration=60s factor=0.6", &error);
  ASSERT_TRUE(a && b) << error;
  EXPECT_EQ(a->kind, ScenarioKind::kFailureSurge);
  EXPECT_EQ(a->start, b->start);
  EXPECT_EQ(a->duration, b->duration);
  EXPECT_DOUBLE_EQ(a->factor, 0.6);
  const auto c = ParseScenario("slow-model duration=250ms", &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->start, 0);
  EXPECT_EQ(c->duration, 250'000);
  EXPECT_DOUBLE_EQ(c->factor, DefaultFactor(ScenarioKind::kSlowModel));
}

TEST(ScenarioTest, RejectsBadSpecs) {
  std::string error;
  EXPECT_FALSE(ParseScenario("", &error));
  EXPECT_FALSE(ParseScenario("burst:start", &error));
  EXPECT_FALSE(ParseScenario("burst:start=abc", &error));
  EXPECT_FALSE(ParseScenario("burst:factor=-1", &error));
  EXPECT_FALSE(ParseScenario("burst:colour=red", &error));
  EXPECT_FALSE(ParseScenario("failure-surge:factor=2", &error));  // a probability
  EXPECT_NE(error.find("failure-surge"), std::string::npos);
}

TEST(ScenarioTest, Durations) {
  EXPECT_EQ(ParseDuration("1.5s"), 1'500'000);
  EXPECT_EQ(ParseDuration("2m"), 120 * kSecond);
  EXPECT_EQ(ParseDuration("1h"), 3600 * kSecond);
  EXPECT_EQ(ParseDuration("50ms"), 50'000);
  EXPECT_EQ(ParseDuration("3"), 3 * kSecond);
  EXPECT_FALSE(ParseDuration("-1s"));
  EXPECT_FALSE(ParseDuration("s"));
}

TEST(ScenarioTest, SetAppliesOnlyInsideWindows) {
  ScenarioSet set;
  std::string error;
  set.Add(*ParseScenario("burst:start=10s,duration=5s,factor=4", &error), 0);
  set.Add(*ParseScenario("drop:start=12s,duration=1s,factor=0.5", &error), 0);
  set.Add(*ParseScenario("backlog:start=1s,duration=1s", &error), 0);
  set.Add(*ParseScenario("failure-surge:start=0s,duration=1s,factor=0.7", &error), 0);
  EXPECT_DOUBLE_EQ(set.RateFactor(9 * kSecond), 1);
  EXPECT_DOUBLE_EQ(set.RateFactor(10 * kSecond), 4);
  EXPECT_DOUBLE_EQ(set.RateFactor(12 * kSecond), 2);
  EXPECT_DOUBLE_EQ(set.RateFactor(15 * kSecond), 1);
  EXPECT_DOUBLE_EQ(set.WorkersLost(1 * kSecond), 0.9);
  EXPECT_DOUBLE_EQ(set.WorkersLost(2 * kSecond), 0);
  EXPECT_DOUBLE_EQ(set.FailureFloor(0), 0.7);
  EXPECT_DOUBLE_EQ(set.FailureFloor(kSecond), 0);
}

}  // namespace
}  // namespace aee::sim
