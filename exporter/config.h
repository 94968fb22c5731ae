#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/options.h"
#include "core/collector.h"
#include "core/db.h"
#include "core/log.h"
#include "core/web_config.h"
#include "exporter/live_hub.h"

namespace aee {

/// The whole process configuration, from flags and environment.
struct Config {
  std::string listen_address = ":9477";
  std::string telemetry_path = "/metrics";
  std::string web_config_file;  // exporter-toolkit format; parsed into web
  WebConfig web;
  std::string workspace_tokens_file;
  double rate_limit = 10;  // requests per second per client; 0 = off
  int rate_limit_burst = 20;
  int max_connections = 64;
  int max_connections_per_client = 8;  // 0 = no cap
  std::chrono::milliseconds request_timeout{5000};
  std::string db_url;      // secret: the logger is built knowing its password (main.cc)
  bool db_url_from_flag = false;  // --db.url puts the password in process listings
  std::string db_schema = "public";
  std::string db_notify_channel;  // empty: no LISTEN, polling only
  std::chrono::milliseconds db_notify_coalesce{20};
  std::string db_notify_url;  // secret, like db_url; empty: LISTEN on db_url (not behind a transaction pooler)
  DbPooler db_pooler = DbPooler::kNone;
  std::chrono::milliseconds db_max_replay_lag{0};  // /readyz fails while a standby lags more; 0 = never
  std::map<std::string, CollectorSchedule, std::less<>> collectors;
  CollectorOptions collector_options;  // every collector's own flags (collectors/registry.h)
  ShardOptions shard;              // --shard.count, --shard.index
  bool api_enabled = true;        // --api.enabled: the live view
  int api_max_executions = 500;   // per workspace and list
  LiveHubOptions api;
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kLogfmt;
  bool show_version = false;
  bool show_help = false;
};


/// Parses command-line arguments (without argv[0]). On failure returns false and
/// sets *error to one line naming the offending flag.
bool ParseFlags(const std::vector<std::string>& args, const EnvLookup& getenv, Config* out,
                std::string* error);

/// The --help text, generated from the flag table and the collector table.
std::string HelpText();

}  // namespace aee
