#pragma once

/// Command-line configuration of agent_platform_sim.

#include <optional>
#include <string>
#include <vector>

#include "tools/sim/live.h"
#include "tools/sim/platform.h"
#include "tools/sim/scenario.h"

namespace aee::sim {

/// The live knobs (LiveLoad) apply with --live.
struct Config : LiveLoad {
  std::string db_url;
  std::string db_schema = "public";
  bool init_schema = false;
  std::string schema_file;  // empty: the schema compiled into the binary

  PlatformOptions platform;

  int backfill_days = 0;
  std::optional<Micros> backfill_end;  // default: now
  int backfill_jobs = 2;

  bool live = false;
};

struct ParseResult {
  std::optional<Config> config;  // set when the flags are valid and there is work to do
  bool help = false;             // --help: print Usage() and exit 0
  std::string error;             // one line naming the bad flag
};

/// Parses argv (without argv[0]); `env_db_url` is AGENT_EXPORTER_DB_URL or empty.
ParseResult ParseFlags(const std::vector<std::string>& args, const std::string& env_db_url);

/// The --help text.
std::string Usage();

}  // namespace aee::sim
