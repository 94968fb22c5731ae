#include "collectors/registry.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace aee {
namespace {

// The default text a flag shows in --help is the one written value: set into
// default options it must change nothing, so the text and the struct agree.
TEST(CollectorRegistryTest, EveryFlagDefaultTextEqualsItsStructDefault) {
  int flags = 0;
  ForEachCollectorFlag([&](const CollectorFlag& f) {
    ++flags;
    CollectorOptions options;
    std::string why;
    ASSERT_TRUE(f.set(f.spec.default_text, &options, &why)) << f.spec.name << ": " << why;
    EXPECT_TRUE(options == CollectorOptions{}) << "--" << f.spec.name << "'s default \"" << f.spec.default_text
                                               << "\" is not its options struct's default";
  });
  EXPECT_GE(flags, 17);
}

// And the comparison above can fail: a value other than the default changes the options.
TEST(CollectorRegistryTest, ANonDefaultValueChangesTheOptions) {
  const CollectorFlag* lateness = FindCollectorFlag("collector.runs.lateness");
  ASSERT_NE(lateness, nullptr);
  CollectorOptions options;
  std::string why;
  ASSERT_TRUE(lateness->set("6m", &options, &why)) << why;
  EXPECT_FALSE(options == CollectorOptions{});
  EXPECT_FALSE(lateness->set("soon", &options, &why));
  EXPECT_EQ(why, "invalid duration \"soon\" (use e.g. 500ms, 5s, 1m)");
}

TEST(CollectorRegistryTest, FlagNamesAreUniqueAndUnderCollector) {
  std::set<std::string> names;
  ForEachCollectorFlag([&](const CollectorFlag& f) {
    EXPECT_TRUE(names.insert(std::string(f.spec.name)).second) << "declared twice: " << f.spec.name;
    EXPECT_EQ(f.spec.name.substr(0, 10), "collector.") << f.spec.name;
    EXPECT_FALSE(f.spec.help.empty()) << f.spec.name;
  });
  // A collector's own flag never shadows its toggle or schedule flags.
  for (const auto& e : CollectorTable()) {
    const std::string prefix = "collector." + std::string(e.name);
    EXPECT_EQ(FindCollectorFlag(prefix), nullptr);
    EXPECT_EQ(FindCollectorFlag(prefix + ".interval"), nullptr);
    EXPECT_EQ(FindCollectorFlag(prefix + ".timeout"), nullptr);
  }
}

TEST(CollectorRegistryTest, NotificationsWakeTheCollectorsOfTheTableThatChanged) {
  auto woken = [](std::string_view table) {
    std::set<std::string> out;
    for (const auto& e : CollectorTable()) {
      for (auto t : e.woken_by) {
        if (t == table) out.insert(std::string(e.name));
      }
    }
    return out;
  };
  EXPECT_EQ(woken("agent_runs"), (std::set<std::string>{"realtime", "runs"}));
  EXPECT_EQ(woken("execution_queue"), (std::set<std::string>{"realtime"}));
}

}  // namespace
}  // namespace aee
