#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/flags.h"
#include "core/log.h"

namespace aee::rollup {

/// The agent_execution_rollup process configuration, from flags and environment.
struct RollupConfig {
  std::string db_url;  // secret: main.cc builds the logger knowing its password
  bool db_url_from_flag = false;
  std::string db_schema = "public";  // schema of the platform tables (agent_runs, ...)
  std::chrono::milliseconds interval{std::chrono::seconds(10)};
  std::chrono::milliseconds lateness{std::chrono::minutes(5)};
  std::chrono::milliseconds sweep_interval{std::chrono::minutes(5)};
  std::chrono::milliseconds sample_interval{std::chrono::seconds(1)};  // 0 = no sampling
  std::chrono::milliseconds workers_stale_after{std::chrono::minutes(1)};
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// Backfill [from, to) (microseconds since the epoch, minute-aligned) and exit.
  bool backfill = false;
  std::int64_t from_us = 0;
  std::int64_t to_us = 0;
  bool once = false;         // one catch-up pass, then exit
  bool init_schema = false;  // load schema/analytics.sql first
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kLogfmt;
  bool show_help = false;
  bool show_version = false;
};


/// Parses the arguments (without argv[0]). On failure returns false with *error one
/// line naming the offending flag (main exits 2).
bool ParseRollupFlags(const std::vector<std::string>& args, const EnvLookup& getenv, RollupConfig* out,
                      std::string* error);

/// The --help text, generated from the flag table.
std::string RollupHelpText();

/// Parses a UTC time "2026-11-30", "2026-11-30T08:15Z", "2026-11-30T08:15:00Z" (a
/// "+00:00" suffix is accepted for Z) into microseconds since the epoch.
bool ParseUtcTime(std::string_view text, std::int64_t* us);

}  // namespace aee::rollup
