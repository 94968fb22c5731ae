#include "exporter/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "collectors/registry.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::milliseconds;

const char* NoEnv(const char*) { return nullptr; }

bool Parse(std::vector<std::string> args, Config* cfg, std::string* err, const EnvLookup& env = NoEnv) {
  return ParseFlags(args, env, cfg, err);
}

TEST(ParseDurationTest, AcceptsPrometheusDurations) {
  const std::pair<const char*, milliseconds> cases[] = {
      {"500ms", milliseconds(500)},  {"1s", milliseconds(1000)},   {"1m30s", milliseconds(90000)},
      {"2h", milliseconds(7200000)}, {"1.5s", milliseconds(1500)}, {"0", milliseconds(0)},
  };
  for (const auto& [text, want] : cases) {
    milliseconds d;
    ASSERT_TRUE(ParseDuration(text, &d)) << text;
    EXPECT_EQ(d, want) << text;
  }
}

TEST(ParseDurationTest, RejectsGarbage) {
  milliseconds d;
  for (const char* bad : {"", "5", "5x", "s", "-1s", "1s2", "ms", "1 s", "9999d"}) {
    EXPECT_FALSE(ParseDuration(bad, &d)) << bad;
  }
}

TEST(FormatDurationTest, RoundTrips) {
  for (long long ms : {500LL, 1000LL, 5000LL, 90000LL, 300000LL, 3723000LL}) {
    milliseconds back;
    ASSERT_TRUE(ParseDuration(FormatDuration(milliseconds(ms)), &back)) << FormatDuration(milliseconds(ms));
    EXPECT_EQ(back.count(), ms);
  }
}

TEST(ParseFlagsTest, DefaultsComeFromTheCollectorTable) {
  Config cfg;
  std::string err;
  ASSERT_TRUE(Parse({}, &cfg, &err)) << err;
  EXPECT_EQ(cfg.listen_address, ":9477");
  EXPECT_EQ(cfg.db_schema, "public");
  for (const auto& e : CollectorTable()) {
    const auto& s = cfg.collectors.at(std::string(e.name));
    EXPECT_EQ(s.enabled, e.enabled_by_default);
    EXPECT_EQ(s.interval, e.default_interval);
  }
  EXPECT_EQ(cfg.collectors.at("realtime").interval, milliseconds(1000));
  EXPECT_EQ(cfg.collectors.at("runs").interval, milliseconds(5000));
  EXPECT_EQ(cfg.collector_options.realtime.top_runs, 10);
  EXPECT_EQ(cfg.collector_options.runs.lateness, std::chrono::minutes(5));
  EXPECT_EQ(cfg.collectors.at("patterns").interval, std::chrono::minutes(5));
  for (const char* name : {"workers", "models", "database", "patterns"}) {
    EXPECT_TRUE(cfg.collectors.at(name).enabled) << name;
  }
  EXPECT_EQ(cfg.collector_options.workers.stale_after, std::chrono::minutes(1));
  EXPECT_FALSE(cfg.collector_options.workers.per_worker);
  EXPECT_EQ(cfg.collector_options.models.max_models, 50);
  EXPECT_EQ(cfg.collector_options.models.lateness, std::chrono::minutes(5));
  EXPECT_EQ(cfg.collector_options.models.sweep_interval, std::chrono::minutes(5));
  EXPECT_EQ(cfg.collector_options.patterns.lookback_days, 28);
  EXPECT_EQ(cfg.collector_options.patterns.timezone, "UTC");
  // Woken collectors: the runs collector at most once a second, realtime at
  // --db.notify-coalesce; the others are never woken.
  EXPECT_EQ(cfg.collectors.at("runs").notify_coalesce, milliseconds(1000));
  EXPECT_EQ(cfg.collectors.at("realtime").notify_coalesce, milliseconds(20));
  EXPECT_FALSE(cfg.collectors.at("models").notify_coalesce.has_value());
}

TEST(ParseFlagsTest, ACollectorsNotifyCoalesceIsItsOwnOrTheLongerOfItsDefaultAndTheGlobal) {
  auto coalesce = [](std::vector<std::string> args, const char* collector) {
    Config cfg;
    std::string err;
    EXPECT_TRUE(Parse(args, &cfg, &err)) << err;
    return cfg.collectors.at(collector).notify_coalesce.value_or(milliseconds(-1));
  };
  EXPECT_EQ(coalesce({"--db.notify-coalesce=3s"}, "runs"), milliseconds(3000));
  EXPECT_EQ(coalesce({"--db.notify-coalesce=3s"}, "realtime"), milliseconds(3000));
  EXPECT_EQ(coalesce({"--db.notify-coalesce=0"}, "runs"), milliseconds(1000));
  // Its own flag wins, in either order.
  EXPECT_EQ(coalesce({"--collector.runs.notify-coalesce=0", "--db.notify-coalesce=3s"}, "runs"), milliseconds(0));
  EXPECT_EQ(coalesce({"--db.notify-coalesce=3s", "--collector.realtime.notify-coalesce=250ms"}, "realtime"),
            milliseconds(250));
}

TEST(ParseFlagsTest, ParsesTheWorkersModelsAndPatternsOptions) {
  Config cfg;
  std::string err;
  ASSERT_TRUE(Parse({"--collector.workers.stale-after=90s", "--collector.workers.per-worker",
                     "--collector.models.max-models", "7", "--collector.models.lateness=10m",
                     "--collector.models.sweep-interval=0", "--collector.patterns.lookback-days=14",
                     "--collector.patterns.timezone=America/New_York", "--no-collector.database",
                     "--collector.patterns.interval=1m", "--collector.patterns.cycle-budget=250ms"},
                    &cfg, &err))
      << err;
  EXPECT_EQ(cfg.collector_options.workers.stale_after, milliseconds(90000));
  EXPECT_TRUE(cfg.collector_options.workers.per_worker);
  EXPECT_EQ(cfg.collector_options.models.max_models, 7);
  EXPECT_EQ(cfg.collector_options.models.lateness, std::chrono::minutes(10));
  EXPECT_EQ(cfg.collector_options.models.sweep_interval, milliseconds(0));
  EXPECT_EQ(cfg.collector_options.patterns.lookback_days, 14);
  EXPECT_EQ(cfg.collector_options.patterns.timezone, "America/New_York");
  EXPECT_FALSE(cfg.collectors.at("database").enabled);
  EXPECT_EQ(cfg.collectors.at("patterns").interval, std::chrono::minutes(1));
  EXPECT_EQ(cfg.collector_options.patterns.cycle_budget, milliseconds(250));
  ASSERT_TRUE(Parse({"--collector.workers.per-worker", "--no-collector.workers.per-worker",
                     "--collector.patterns.timezone=+02:00"}, &cfg, &err)) << err;
  EXPECT_FALSE(cfg.collector_options.workers.per_worker);
  EXPECT_EQ(cfg.collector_options.patterns.timezone, "+02:00");
}

TEST(ParseFlagsTest, ParsesEveryFlagKind) {
  Config cfg;
  std::string err;
  ASSERT_TRUE(Parse({"--web.listen-address=127.0.0.1:9000", "--db.schema", "platform", "--no-collector.info",
                     "--collector.realtime.interval=500ms", "--collector.runs.timeout", "3s",
                     "--collector.realtime.top-runs=0", "--collector.runs.lateness=10m",
                     "--collector.runs.sweep-interval=0", "--collector.runs.agent-histograms",
                     "--log.level=debug", "--log.format=json", "--db.url=postgresql://u@h/db",
                     "--db.notify-channel=agent_execution_events", "--db.notify-coalesce=0"},
                    &cfg, &err))
      << err;
  EXPECT_EQ(cfg.listen_address, "127.0.0.1:9000");
  EXPECT_EQ(cfg.db_notify_channel, "agent_execution_events");
  EXPECT_EQ(cfg.db_notify_coalesce, milliseconds(0));
  EXPECT_EQ(cfg.db_schema, "platform");
  EXPECT_FALSE(cfg.collectors.at("info").enabled);
  EXPECT_EQ(cfg.collectors.at("realtime").interval, milliseconds(500));
  EXPECT_EQ(cfg.collectors.at("runs").timeout, milliseconds(3000));
  EXPECT_EQ(cfg.collector_options.realtime.top_runs, 0);
  EXPECT_EQ(cfg.collector_options.runs.lateness, std::chrono::minutes(10));
  EXPECT_EQ(cfg.collector_options.runs.sweep_interval, milliseconds(0));
  EXPECT_TRUE(cfg.collector_options.runs.agent_histograms);
  EXPECT_EQ(cfg.log_level, LogLevel::kDebug);
  EXPECT_EQ(cfg.log_format, LogFormat::kJson);
  EXPECT_EQ(cfg.db_url, "postgresql://u@h/db");
  EXPECT_TRUE(cfg.db_url_from_flag);
}

TEST(ParseFlagsTest, ErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const Case cases[] = {
      {{"--bogus"}, "--bogus"},
      {{"--collector.runs.interval=5x"}, "--collector.runs.interval"},
      {{"--collector.runs.interval=0"}, "--collector.runs.interval"},
      {{"--collector.nosuch.interval=1s"}, "unknown collector \"nosuch\""},
      {{"--no-collector.nosuch"}, "--no-collector.nosuch"},
      {{"--web.listen-address=nonsense"}, "--web.listen-address"},
      {{"--web.listen-address=:99999"}, "--web.listen-address"},
      {{"--log.level=loud"}, "--log.level"},
      {{"--log.format=xml"}, "--log.format"},
      {{"--collector.realtime.top-runs=-1"}, "--collector.realtime.top-runs"},
      {{"--collector.realtime.overdue-factor=0.5"}, "--collector.realtime.overdue-factor"},
      {{"--collector.realtime.overdue-factor=x"}, "--collector.realtime.overdue-factor"},
      {{"--db.schema="}, "--db.schema"},
      {{"--db.url"}, "--db.url: missing value"},
      {{"--db.url-file=/nonexistent/file"}, "--db.url-file"},
      {{"stray"}, "unexpected argument"},
      {{"--collector.runs=yes"}, "--collector.runs: takes no value"},
      {{"--collector.workers.stale-after=0"}, "--collector.workers.stale-after"},
      {{"--collector.workers.stale-after=soon"}, "--collector.workers.stale-after"},
      {{"--collector.workers.per-worker=maybe"}, "--collector.workers.per-worker"},
      {{"--collector.models.max-models=0"}, "--collector.models.max-models"},
      {{"--collector.models.max-models=lots"}, "--collector.models.max-models"},
      {{"--collector.models.lateness=-1s"}, "--collector.models.lateness"},
      {{"--collector.patterns.lookback-days=0"}, "--collector.patterns.lookback-days"},
      {{"--collector.patterns.lookback-days=400"}, "--collector.patterns.lookback-days"},
      {{"--collector.patterns.timezone=Europe/Paris; DROP"}, "--collector.patterns.timezone"},
      {{"--collector.patterns.timezone="}, "--collector.patterns.timezone"},
      {{"--db.notify-channel=events; DROP TABLE x"}, "--db.notify-channel"},
      {{"--db.notify-channel=9lives"}, "--db.notify-channel"},
      {{"--db.notify-coalesce=1h"}, "--db.notify-coalesce"},
      {{"--db.notify-coalesce=fast"}, "--db.notify-coalesce"},
      {{"--collector.runs.notify-coalesce=11s"}, "--collector.runs.notify-coalesce"},
      {{"--collector.runs.notify-coalesce=soon"}, "--collector.runs.notify-coalesce"},
      {{"--collector.models.notify-coalesce=1s"}, "not woken by notifications"},
      {{"--collector.patterns.cycle-budget=0"}, "--collector.patterns.cycle-budget"},
      {{"--collector.patterns.cycle-budget=soon"}, "--collector.patterns.cycle-budget"},
  };
  for (const auto& c : cases) {
    Config cfg;
    std::string err;
    EXPECT_FALSE(Parse(c.args, &cfg, &err)) << c.args[0];
    EXPECT_NE(err.find(c.expect), std::string::npos) << "error \"" << err << "\" lacks \"" << c.expect << "\"";
    EXPECT_EQ(err.find('\n'), std::string::npos) << "one line: " << err;
  }
}

// Found by fuzz/http_parsing_fuzzer.cc: at a rate of 1e-10 requests/s the rate
// limiter's Retry-After (1/rate seconds) overflowed int, undefined behaviour.
TEST(ParseFlagsTest, RejectsRateLimitsTooSmallForRetryAfter) {
  Config cfg;
  std::string err;
  EXPECT_FALSE(Parse({"--web.rate-limit=0.0000000001"}, &cfg, &err));
  EXPECT_NE(err.find("--web.rate-limit"), std::string::npos) << err;
  EXPECT_FALSE(Parse({"--web.rate-limit=0.0009"}, &cfg, &err));
  ASSERT_TRUE(Parse({"--web.rate-limit=0.001"}, &cfg, &err)) << err;
  EXPECT_EQ(cfg.rate_limit, 0.001);
  ASSERT_TRUE(Parse({"--web.rate-limit=0"}, &cfg, &err)) << err;
  EXPECT_EQ(cfg.rate_limit, 0);
}

// Found by fuzz/flags_fuzzer.cc: a host holding ',' passed validation and became a
// civetweb port list ("[%--web.wo,voken]:9" listened on two ports); ":-0" passed
// here and failed only at start-up.
TEST(ParseFlagsTest, ListenAddressIsOneHostAndPort) {
  for (const char* bad : {"[%--web.wo,voken]:9", "127.0.0.1:80,0.0.0.0:81", ":-0", ":+80", "[]:80", "[::1:80",
                          "host name:80", ":", ":123456"}) {
    Config cfg;
    std::string err;
    EXPECT_FALSE(Parse({std::string("--web.listen-address=") + bad}, &cfg, &err)) << bad;
    EXPECT_NE(err.find("--web.listen-address"), std::string::npos) << err;
  }
  for (const char* good : {":9477", "0.0.0.0:9477", "127.0.0.1:0", "localhost:80", "[::]:9477", "[::1]:9477",
                           "[fe80::1]:9100", "exporter-1.example.com:9477"}) {
    Config cfg;
    std::string err;
    EXPECT_TRUE(Parse({std::string("--web.listen-address=") + good}, &cfg, &err)) << good << ": " << err;
  }
}

TEST(ParseFlagsTest, DbUrlFromEnvironmentAndFile) {
  Config cfg;
  std::string err;
  auto env = [](const char* name) -> const char* {
    return std::string(name) == "AGENT_EXPORTER_DB_URL" ? "postgresql://env@h/db" : nullptr;
  };
  ASSERT_TRUE(Parse({}, &cfg, &err, env));
  EXPECT_EQ(cfg.db_url, "postgresql://env@h/db");
  EXPECT_FALSE(cfg.db_url_from_flag);

  const std::string path = ::testing::TempDir() + "/db_url_" + std::to_string(getpid());
  std::ofstream(path) << "  postgresql://file:secret@h/db\n";
  ASSERT_TRUE(Parse({"--db.url-file=" + path}, &cfg, &err, env));
  EXPECT_EQ(cfg.db_url, "postgresql://file:secret@h/db");  // file beats env
  EXPECT_FALSE(Parse({"--db.url-file=" + path, "--db.url=x"}, &cfg, &err));
  EXPECT_NE(err.find("--db.url-file"), std::string::npos);
  std::remove(path.c_str());
}

// Issue #17: a URL libpq cannot parse used to start the exporter, whose every
// collector then failed forever with libpq's message quoting the password.
TEST(ParseFlagsTest, RefusesAConnectionStringLibpqCannotParseWithoutQuotingIt) {
  constexpr const char* kBad = "postgresql://postgres:S3cr%zzetPW@127.0.0.1:5432/db";
  Config cfg;
  std::string err;
  auto env = [&](const char* name) -> const char* {
    return std::string(name) == "AGENT_EXPORTER_DB_URL" ? kBad : nullptr;
  };
  EXPECT_FALSE(Parse({}, &cfg, &err, env));
  EXPECT_EQ(err.rfind("AGENT_EXPORTER_DB_URL: libpq cannot parse", 0), 0u) << err;
  EXPECT_EQ(err.find("S3cr"), std::string::npos) << err;

  EXPECT_FALSE(Parse({std::string("--db.url=") + kBad}, &cfg, &err));
  EXPECT_EQ(err.rfind("--db.url: libpq cannot parse", 0), 0u) << err;
  EXPECT_EQ(err.find("S3cr"), std::string::npos) << err;

  const std::string path = ::testing::TempDir() + "/bad_db_url_" + std::to_string(getpid());
  std::ofstream(path) << "host=db password='never closed\n";
  EXPECT_FALSE(Parse({"--db.url-file=" + path}, &cfg, &err));
  EXPECT_EQ(err.rfind("--db.url-file: file", 0), 0u) << err;
  EXPECT_EQ(err.find("never closed"), std::string::npos) << err;
  std::remove(path.c_str());
}

TEST(HelpTextTest, ListsEveryCollectorFlag) {
  const std::string help = HelpText();
  for (const auto& e : CollectorTable()) {
    EXPECT_NE(help.find("--collector." + std::string(e.name) + ".interval"), std::string::npos);
  }
  EXPECT_NE(help.find("--web.listen-address"), std::string::npos);
}

TEST(ConfigurationDocTest, DocumentsEveryFlag) {
  // Every flag --help prints must appear in docs/configuration.md.
  const std::string doc = testing::ReadSourceFile("docs/configuration.md");
  const std::string help = HelpText();
  size_t pos = 0;
  while ((pos = help.find("--", pos)) != std::string::npos) {
    size_t end = help.find_first_of(" =\n", pos);
    std::string flag = help.substr(pos, end - pos);
    pos = end;
    if (flag.find("<name>") != std::string::npos || flag == "--") continue;
    EXPECT_NE(doc.find("`" + flag), std::string::npos) << flag << " missing from docs/configuration.md";
  }
}

TEST(ConfigurationDocTest, EveryDocumentedDefaultIsTheDeclaredOne) {
  // Each flag's row in docs/configuration.md ("| `--name` | default | help |") names the
  // default the flag declares (the text --help prints as "(default: X)"), so the doc
  // cannot drift from the declarations. The per-collector --collector.<name>[.interval|
  // .timeout] lines are documented once for all collectors, not row by row.
  std::map<std::string, std::string> documented;  // flag -> its default cell
  std::istringstream doc(testing::ReadSourceFile("docs/configuration.md"));
  for (std::string line; std::getline(doc, line);) {
    if (!line.starts_with("| `--")) continue;
    const size_t name_end = line.find('`', 3);
    const size_t cell = line.find("| ", name_end);
    if (name_end == std::string::npos || cell == std::string::npos) continue;
    const size_t cell_end = line.find(" |", cell + 2);
    documented.emplace(line.substr(3, name_end - 3), line.substr(cell + 2, cell_end - cell - 2));
  }
  std::istringstream help(HelpText());
  int checked = 0;
  for (std::string line; std::getline(help, line);) {
    const size_t start = line.find_first_not_of(' ');
    const size_t marker = line.rfind("(default: ");
    if (start == std::string::npos || !line.substr(start).starts_with("--") || marker == std::string::npos) continue;
    const std::string flag = line.substr(start, line.find_first_of("= ", start) - start);
    const std::string value = line.substr(marker + 10, line.size() - marker - 11);
    if (flag.starts_with("--collector.") && std::any_of(CollectorTable().begin(), CollectorTable().end(), [&](const auto& e) {
          const std::string base = "--collector." + std::string(e.name);
          return flag == base || flag == base + ".interval" || flag == base + ".timeout" ||
                 flag == base + ".notify-coalesce";
        })) {
      continue;
    }
    auto row = documented.find(flag);
    ASSERT_NE(row, documented.end()) << flag << " has no row of its own in docs/configuration.md";
    EXPECT_NE(row->second.find("`" + value + "`"), std::string::npos)
        << flag << ": docs/configuration.md says " << row->second << ", the flag's default is " << value;
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

TEST(QuoteIdentifierTest, DoublesQuotes) {
  EXPECT_EQ(QuoteIdentifier("public"), "\"public\"");
  EXPECT_EQ(QuoteIdentifier("we\"ird"), "\"we\"\"ird\"");
}

}  // namespace
}  // namespace aee
