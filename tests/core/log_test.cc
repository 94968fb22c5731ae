#include "core/log.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace aee {
namespace {

TEST(LoggerTest, LogfmtQuotesWhatNeedsQuoting) {
  Logger log(LogLevel::kInfo, LogFormat::kLogfmt);
  EXPECT_EQ(log.Format(LogLevel::kError, "collector failed", {{"collector", "runs"}, {"err", "a \"b\"\nc"}}, "T"),
            "ts=T level=error msg=\"collector failed\" collector=runs err=\"a \\\"b\\\"\\nc\"");
}

TEST(LoggerTest, JsonIsOneValidObject) {
  Logger log(LogLevel::kInfo, LogFormat::kJson);
  auto line = log.Format(LogLevel::kInfo, "listening", {{"port", "9477"}}, "T");
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["msg"], "listening");
  EXPECT_EQ(j["port"], "9477");
  EXPECT_EQ(j["level"], "info");
}

TEST(LoggerTest, NeverWritesPasswords) {
  for (auto format : {LogFormat::kLogfmt, LogFormat::kJson}) {
    Logger log(LogLevel::kDebug, format);
    std::string sink;
    log.SetSinkForTest(&sink);
    log.Log(LogLevel::kError, "connect postgresql://app:hunter2@db/x failed",
            {{"dsn", "host=db user=app password=hunter2 dbname=x"}});
    EXPECT_EQ(sink.find("hunter2"), std::string::npos) << sink;
    EXPECT_NE(sink.find("xxxxx"), std::string::npos) << sink;
  }
}

TEST(LoggerTest, FiltersByLevel) {
  Logger log(LogLevel::kWarn, LogFormat::kLogfmt);
  std::string sink;
  log.SetSinkForTest(&sink);
  log.Log(LogLevel::kInfo, "hidden");
  log.Log(LogLevel::kWarn, "shown");
  EXPECT_EQ(sink.find("hidden"), std::string::npos);
  EXPECT_NE(sink.find("shown"), std::string::npos);
}

TEST(LoggerTest, ParsesLevelsAndFormats) {
  LogLevel l;
  LogFormat f;
  EXPECT_TRUE(ParseLogLevel("warn", &l));
  EXPECT_EQ(l, LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("WARN", &l));
  EXPECT_TRUE(ParseLogFormat("json", &f));
  EXPECT_FALSE(ParseLogFormat("text", &f));
}

}  // namespace
}  // namespace aee
