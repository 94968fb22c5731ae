#include "core/flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace aee {
namespace {

// A command line walked against three flags, one of each arity; the result is what
// set saw, one "name=value" (or "!name=value" when negated) per flag.
struct Walk {
  bool ok = false;
  bool help = false;
  bool version = false;
  std::string seen;
  std::string error;
};

Walk WalkOf(const std::vector<std::string>& args) {
  Walk w;
  auto arity = [](std::string_view name) {
    if (name == "collector.runs") return FlagArity::kToggle;
    if (name == "api.enabled") return FlagArity::kSwitch;
    if (name == "db.url") return FlagArity::kValue;
    return FlagArity::kUnknown;
  };
  auto set = [&w](const FlagArg& a) {
    if (a.value == "refuse") {
      w.error = FlagError(a.name, "refused");
      return false;
    }
    w.seen += (a.negated ? "!" : "") + std::string(a.name) + "=" + std::string(a.value) + " ";
    return true;
  };
  w.ok = WalkFlags(args, arity, set, &w.help, &w.version, &w.error);
  return w;
}

TEST(WalkFlagsTest, ReadsEachArityInEachSpelling) {
  Walk w = WalkOf({"--collector.runs", "--no-collector.runs", "--api.enabled", "--api.enabled=false",
                   "--no-api.enabled", "--db.url=a=b", "--db.url", "x y", "-h", "--version"});
  ASSERT_TRUE(w.ok) << w.error;
  EXPECT_EQ(w.seen,
            "collector.runs=true !collector.runs=false api.enabled=true api.enabled=false !api.enabled=false "
            "db.url=a=b db.url=x y ");
  EXPECT_TRUE(w.help);
  EXPECT_TRUE(w.version);
}

TEST(WalkFlagsTest, NamesTheFlagAsWrittenInEveryError) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--bogus"}, "--bogus: unknown flag"},
      {{"--no-bogus=1"}, "--no-bogus: unknown flag"},
      {{"--collector.runs=yes"}, "--collector.runs: takes no value"},
      {{"--no-api.enabled=true"}, "--no-api.enabled: takes no value"},
      {{"--no-db.url=x"}, "--no-db.url: unknown flag"},
      {{"--db.url"}, "--db.url: missing value"},
      {{"db.url=x"}, "unexpected argument \"db.url=x\" (flags start with --)"},
      {{"--db.url=refuse"}, "--db.url: refused"},
  };
  for (const auto& [args, want] : cases) {
    Walk w = WalkOf(args);
    EXPECT_FALSE(w.ok) << args[0];
    EXPECT_EQ(w.error, want) << args[0];
  }
}

TEST(WalkFlagsTest, StopsAtTheFirstError) {
  Walk w = WalkOf({"--api.enabled", "--bogus", "--db.url=x"});
  EXPECT_FALSE(w.ok);
  EXPECT_EQ(w.seen, "api.enabled=true ");
}

TEST(ReadTrimmedFileTest, TrimsAndNamesAFileItCannotRead) {
  char path[] = "/tmp/aee-flags-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "\n  postgresql://db/x \t\n";
  std::string out, why;
  ASSERT_TRUE(ReadTrimmedFile(path, &out, &why)) << why;
  EXPECT_EQ(out, "postgresql://db/x");
  std::remove(path);
  EXPECT_FALSE(ReadTrimmedFile(path, &out, &why));
  EXPECT_EQ(why, "cannot read \"" + std::string(path) + "\"");
}

TEST(WriteFlagHelpTest, AlignsTheHelpAndShowsTheDefault) {
  std::ostringstream o;
  WriteFlagHelp(o, "--db.schema=VALUE", "Schema of the tables.", "public");
  WriteFlagHelp(o, "--once", "Run once.", "");
  EXPECT_EQ(o.str(),
            "      --db.schema=VALUE                Schema of the tables. (default: public)\n"
            "      --once                           Run once.\n");
}

}  // namespace
}  // namespace aee
