#include "exporter/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>

#include "collectors/registry.h"
#include "core/change_listener.h"
#include "core/db.h"
#include "core/flags.h"
#include "exporter/workspace_tokens.h"

namespace aee {
namespace {

using std::chrono::milliseconds;

using Kind = FlagKind;

// The process-wide flags as data: parsing, --help and docs/configuration.md (a test
// checks it lists every flag) come from this table and the collector table.
constexpr FlagSpec kFlags[] = {
    {"web.listen-address", Kind::kString, ":9477", "Address to listen on for HTTP (host:port, :port, [ipv6]:port)."},
    {"web.telemetry-path", Kind::kString, "/metrics", "Path under which to expose metrics."},
    {"web.config.file", Kind::kString, "", "Path to an exporter-toolkit web configuration file (TLS, basic auth, headers; reloaded on SIGHUP)."},
    {"web.workspace-tokens-file", Kind::kString, "", "YAML file of bearer tokens, each limited to its workspaces' series (reloaded on SIGHUP)."},
    {"web.rate-limit", Kind::kString, "10", "Requests per second allowed per client address on every endpoint (0 = no limit)."},
    {"web.rate-limit-burst", Kind::kInt, "20", "Requests a client may make at once before --web.rate-limit applies."},
    {"web.max-connections", Kind::kInt, "64", "Connections served at once (HTTP worker threads)."},
    {"web.max-connections-per-client", Kind::kInt, "8", "Connections one client address may hold at once; further ones are closed at once (0 = no cap)."},
    {"web.request-timeout", Kind::kDuration, "5s", "Time allowed to send a whole request, and idle time between keep-alive requests."},
    {"db.url", Kind::kString, "", "libpq URI or keyword string of the platform database (visible in process listings: prefer --db.url-file or AGENT_EXPORTER_DB_URL)."},
    {"db.url-file", Kind::kString, "", "File holding the libpq URI or keyword string."},
    {"db.schema", Kind::kString, "public", "Schema holding the platform tables."},
    {"db.notify-channel", Kind::kString, "", "LISTEN on this channel (agent_execution_events with schema/notify.sql's triggers) and run the realtime and runs collectors as soon as a change is announced; empty = poll only."},
    {"db.notify-coalesce", Kind::kDuration, "20ms", "Least time between two cycles a collector starts on notifications: a burst of changes costs one cycle (the longer of this and a collector's default, unless its --collector.<name>.notify-coalesce is set), and never sooner than four times the collector's last cycle after its start."},
    {"db.notify-url", Kind::kString, "", "Connection for LISTEN alone (a direct one to the primary) when --db.url goes through a transaction pooler or to a hot standby (or AGENT_EXPORTER_DB_NOTIFY_URL); empty = LISTEN on --db.url unless that goes through a transaction pooler (then poll only)."},
    {"db.pooler", Kind::kString, "none", "What --db.url connects through: none (or session: a pooler in session mode), or transaction (PgBouncer pool_mode=transaction: no prepared statements, no session settings, no LISTEN)."},
    {"db.max-replay-lag", Kind::kDuration, "0", "On a hot standby, /readyz answers 503 while agent_exporter_db_replay_lag_seconds is above this (0 = lag never makes it unready)."},
    {"shard.count", Kind::kInt, "1", "Number of exporters the workspaces are split between (docs/operations.md, Scaling out)."},
    {"shard.index", Kind::kInt, "0", "This exporter's share, from 0 to the shard count - 1: the workspaces whose md5(id) % count is the index, and the shared pool on shard 0."},
    {"api.enabled", Kind::kBool, "true", "Serve the live view: /api/v1/workspaces JSON, the execution_update WebSocket and the /live page."},
    {"api.max-executions", Kind::kInt, "500", "Running runs and queue entries listed per workspace and list by the live view (the totals stay exact)."},
    {"api.max-clients", Kind::kInt, "32", "Live view WebSocket subscribers at once, 503 beyond; each holds an HTTP worker, so at most --web.max-connections minus 4."},
    {"api.queue-order", Kind::kString, "priority", "Order in which the platform dequeues: priority (highest priority, then oldest first) or fifo (oldest first)."},
    {"api.user-id", Kind::kString, "omit", "agent_runs.user_id in the live view: omit (not even read), hash (an HMAC-SHA256 keyed by the file of --api.user-id-key-file ) or plain."},
    {"api.user-id-key-file", Kind::kString, "", "File holding the HMAC key for --api.user-id=hash (at least 16 bytes)."},
    {"log.level", Kind::kString, "info", "Minimum log level: debug, info, warn, error."},
    {"log.format", Kind::kString, "logfmt", "Log format: logfmt or json."},
};

bool ValidListenAddress(std::string_view addr) {
  size_t colon = addr.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string_view host = addr.substr(0, colon);
  std::string_view port_text = addr.substr(colon + 1);
  // civetweb takes a comma-separated list of ports: only a host name, an IPv4
  // address or a bracketed IPv6 address may reach it, and a port of digits only.
  bool bracketed = !host.empty() && host.front() == '[';
  if (bracketed && (host.size() < 3 || host.back() != ']')) return false;
  for (char c : bracketed ? host.substr(1, host.size() - 2) : host) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || (bracketed && c == ':');
    if (!ok) return false;
  }
  if (port_text.empty() || port_text.size() > 5) return false;
  for (char c : port_text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  int port = 0;
  std::string why;
  return ParseIntFlag(port_text, 0, 65535, &port, &why);
}

struct Parser {
  const EnvLookup& getenv;
  Config* cfg;
  std::string* error;
  std::string db_url_file;
  bool db_url_set = false;
  std::string user_id_key_file;
  bool api_max_clients_set = false;
  bool db_notify_url_set = false;

  bool Fail(std::string_view flag, const std::string& why) {
    *error = FlagError(flag, why);
    return false;
  }

  bool Duration(std::string_view flag, std::string_view value, milliseconds* out, bool allow_zero) {
    std::string why;
    return ParseDurationFlag(value, allow_zero, out, &why) || Fail(flag, why);
  }

  // --db.notify-coalesce and --collector.<name>.notify-coalesce: 0 to 10s.
  bool NotifyCoalesce(std::string_view flag, std::string_view value, milliseconds* out) {
    if (!Duration(flag, value, out, true)) return false;
    return *out <= milliseconds(10000) || Fail(flag, "want a duration from 0 to 10s");
  }

  // Collector flags: collector.<name>.interval / .timeout.
  bool CollectorSetting(std::string_view flag, std::string_view value) {
    std::string_view rest = flag.substr(std::string_view("collector.").size());
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return Fail(flag, "unknown flag");
    std::string_view name = rest.substr(0, dot), setting = rest.substr(dot + 1);
    auto it = cfg->collectors.find(name);
    if (it == cfg->collectors.end()) return Fail(flag, "unknown collector \"" + std::string(name) + "\"");
    if (setting == "interval") {
      if (!Duration(flag, value, &it->second.interval, false)) return false;
      if (it->second.interval < milliseconds(10)) return Fail(flag, "must be at least 10ms");
      return true;
    }
    if (setting == "timeout") return Duration(flag, value, &it->second.timeout, false);
    if (setting == "notify-coalesce") {
      if (FindCollector(name)->woken_by.empty()) {
        return Fail(flag, "the " + std::string(name) + " collector is not woken by notifications");
      }
      milliseconds gap{0};
      if (!NotifyCoalesce(flag, value, &gap)) return false;
      it->second.notify_coalesce = gap;
      return true;
    }
    return Fail(flag, "unknown flag");
  }

  bool Set(const FlagSpec& f, std::string_view v) {
    std::string_view n = f.name;
    if (n == "web.listen-address") {
      if (!ValidListenAddress(v)) return Fail(n, "invalid address \"" + std::string(v) + "\" (want host:port)");
      cfg->listen_address = v;
    } else if (n == "web.telemetry-path") {
      if (v.empty() || v.front() != '/' || v == "/") return Fail(n, "must start with / and not be /");
      cfg->telemetry_path = v;
    } else if (n == "web.config.file") {
      if (v.empty()) return Fail(n, "must not be empty");
      cfg->web_config_file = v;
    } else if (n == "web.workspace-tokens-file") {
      if (v.empty()) return Fail(n, "must not be empty");
      cfg->workspace_tokens_file = v;
    } else if (n == "web.rate-limit") {
      double rate = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), rate);
      // Below 0.001/s the limiter's Retry-After (1/rate seconds) would not fit an int.
      if (ec != std::errc() || ptr != v.data() + v.size() || !(rate == 0 || (rate >= 0.001 && rate <= 1e6))) {
        return Fail(n, "want 0 (no limit) or requests per second from 0.001 to 1000000, got \"" + std::string(v) + "\"");
      }
      cfg->rate_limit = rate;
    } else if (n == "web.rate-limit-burst") {
      if (std::string why; !ParseIntFlag(v, 1, 1000000, &cfg->rate_limit_burst, &why)) return Fail(n, why);
    } else if (n == "web.max-connections") {
      if (std::string why; !ParseIntFlag(v, 4, 4096, &cfg->max_connections, &why)) return Fail(n, why);
    } else if (n == "web.max-connections-per-client") {
      if (std::string why; !ParseIntFlag(v, 0, 4096, &cfg->max_connections_per_client, &why, "0 (no cap) or an integer up to 4096")) return Fail(n, why);
    } else if (n == "web.request-timeout") {
      if (!Duration(n, v, &cfg->request_timeout, false)) return false;
      if (cfg->request_timeout < milliseconds(100) || cfg->request_timeout > milliseconds(600'000)) {
        return Fail(n, "want a duration from 100ms to 10m");
      }
    } else if (n == "db.url") {
      cfg->db_url = v;
      cfg->db_url_from_flag = true;
      db_url_set = true;
    } else if (n == "db.url-file") {
      db_url_file = v;
    } else if (n == "db.schema") {
      if (v.empty()) return Fail(n, "must not be empty");
      cfg->db_schema = v;
    } else if (n == "db.notify-channel") {
      if (!v.empty() && !IsValidChannelName(v)) {
        return Fail(n, "want a channel name of letters, digits and _ (at most 63), got \"" + std::string(v) + "\"");
      }
      cfg->db_notify_channel = v;
    } else if (n == "db.notify-url") {
      cfg->db_notify_url = v;
      db_notify_url_set = true;
    } else if (n == "db.pooler") {
      if (!ParseDbPooler(v, &cfg->db_pooler)) {
        return Fail(n, "want none, session or transaction, got \"" + std::string(v) + "\"");
      }
    } else if (n == "db.max-replay-lag") {
      if (!Duration(n, v, &cfg->db_max_replay_lag, true)) return false;
    } else if (n == "db.notify-coalesce") {
      if (!NotifyCoalesce(n, v, &cfg->db_notify_coalesce)) return false;
    } else if (n == "api.enabled") {
      if (std::string why; !ParseBoolFlag(v, &cfg->api_enabled, &why)) return Fail(n, why);
    } else if (n == "api.max-executions") {
      if (std::string why; !ParseIntFlag(v, 1, 10000, &cfg->api_max_executions, &why)) return Fail(n, why);
    } else if (n == "api.max-clients") {
      if (std::string why; !ParseIntFlag(v, 1, 4096, &cfg->api.max_clients, &why)) return Fail(n, why);
      api_max_clients_set = true;
    } else if (n == "api.queue-order") {
      if (v != "priority" && v != "fifo") return Fail(n, "want priority or fifo, got \"" + std::string(v) + "\"");
      cfg->collector_options.realtime.queue_fifo = v == "fifo";
    } else if (n == "api.user-id") {
      if (v == "omit") cfg->collector_options.realtime.user_id = UserIdMode::kOmit;
      else if (v == "hash") cfg->collector_options.realtime.user_id = UserIdMode::kHash;
      else if (v == "plain") cfg->collector_options.realtime.user_id = UserIdMode::kPlain;
      else return Fail(n, "want omit, hash or plain, got \"" + std::string(v) + "\"");
    } else if (n == "api.user-id-key-file") {
      if (v.empty()) return Fail(n, "must not be empty");
      user_id_key_file = v;
    } else if (n == "shard.count") {
      if (std::string why; !ParseIntFlag(v, 1, 4096, &cfg->shard.count, &why)) return Fail(n, why);
    } else if (n == "shard.index") {
      if (std::string why; !ParseIntFlag(v, 0, 4095, &cfg->shard.index, &why, "an integer from 0 to --shard.count - 1")) return Fail(n, why);
    } else if (n == "log.level") {
      if (!ParseLogLevel(v, &cfg->log_level)) return Fail(n, "want debug, info, warn or error, got \"" + std::string(v) + "\"");
    } else if (n == "log.format") {
      if (!ParseLogFormat(v, &cfg->log_format)) return Fail(n, "want logfmt or json, got \"" + std::string(v) + "\"");
    }
    return true;
  }

  FlagArity Arity(std::string_view name) const {
    if (name.substr(0, 10) == "collector." && cfg->collectors.count(name.substr(10)) != 0) return FlagArity::kToggle;
    if (const FlagSpec* spec = FindFlag(kFlags, name); spec != nullptr) return ArityOf(spec);
    if (const CollectorFlag* flag = FindCollectorFlag(name); flag != nullptr) return ArityOf(&flag->spec);
    // --collector.<name>.interval and .timeout
    return name.substr(0, 10) == "collector." ? FlagArity::kValue : FlagArity::kUnknown;
  }

  bool Apply(const FlagArg& arg) {
    if (arg.name.substr(0, 10) == "collector.") {
      if (auto it = cfg->collectors.find(arg.name.substr(10)); it != cfg->collectors.end()) {
        it->second.enabled = !arg.negated;
        return true;
      }
    }
    if (const FlagSpec* spec = FindFlag(kFlags, arg.name); spec != nullptr) return Set(*spec, arg.value);
    if (const CollectorFlag* flag = FindCollectorFlag(arg.name); flag != nullptr) {
      std::string why;
      return flag->set(arg.value, &cfg->collector_options, &why) || Fail(arg.name, why);
    }
    return CollectorSetting(arg.name, arg.value);
  }

  bool Run(const std::vector<std::string>& args) {
    if (!WalkFlags(
            args, [this](std::string_view name) { return Arity(name); },
            [this](const FlagArg& arg) { return Apply(arg); }, &cfg->show_help, &cfg->show_version, error)) {
      return false;
    }
    return Finish();
  }

  bool Finish() {
    if (cfg->shard.index >= cfg->shard.count) {
      return Fail("shard.index", std::to_string(cfg->shard.index) + " is not below --shard.count=" +
                                     std::to_string(cfg->shard.count) + " (want 0 to count - 1)");
    }
    if (std::string flag, why; !CheckCollectorOptions(cfg->collector_options, &flag, &why)) return Fail(flag, why);
    if (cfg->collector_options.realtime.user_id == UserIdMode::kHash) {
      if (user_id_key_file.empty()) return Fail("api.user-id", "hash needs --api.user-id-key-file");
      std::string why;
      if (!ReadTrimmedFile(user_id_key_file, &cfg->collector_options.realtime.user_id_key, &why)) return Fail("api.user-id-key-file", why);
      if (cfg->collector_options.realtime.user_id_key.size() < 16) return Fail("api.user-id-key-file", "the key must hold at least 16 bytes");
    } else if (!user_id_key_file.empty()) {
      return Fail("api.user-id-key-file", "only used with --api.user-id=hash");
    }
    // Each subscriber holds an HTTP worker: leave workers for scrapes and probes.
    if (cfg->api.max_clients > cfg->max_connections - 4) {
      if (api_max_clients_set) {
        return Fail("api.max-clients", "must leave at least 4 of --web.max-connections (" +
                                           std::to_string(cfg->max_connections) + ") to scrapes");
      }
      cfg->api.max_clients = cfg->max_connections / 2;
    }
    cfg->collector_options.realtime.live_cap = cfg->api_enabled ? cfg->api_max_executions : 0;
    if (!cfg->web_config_file.empty()) {
      std::string why;
      if (!LoadWebConfig(cfg->web_config_file, &cfg->web, &why)) return Fail("web.config.file", why);
    }
    if (!cfg->workspace_tokens_file.empty()) {
      std::string text, why;
      std::vector<WorkspaceToken> tokens;
      if (!ReadTrimmedFile(cfg->workspace_tokens_file, &text, &why) || !ParseWorkspaceTokens(text, &tokens, &why)) {
        return Fail("web.workspace-tokens-file", why);
      }
    }
    const ConnectionStringSources url{"db.url", db_url_set, cfg->db_url, db_url_file, "AGENT_EXPORTER_DB_URL",
                                      getenv("AGENT_EXPORTER_DB_URL")};
    if (!ResolveConnectionString(url, &cfg->db_url, error)) return false;
    const ConnectionStringSources notify{"db.notify-url", db_notify_url_set, cfg->db_notify_url, "",
                                         "AGENT_EXPORTER_DB_NOTIFY_URL", getenv("AGENT_EXPORTER_DB_NOTIFY_URL")};
    if (!ResolveConnectionString(notify, &cfg->db_notify_url, error)) return false;
    return true;
  }
};

}  // namespace

bool ParseFlags(const std::vector<std::string>& args, const EnvLookup& getenv, Config* out,
                std::string* error) {
  Config cfg;
  for (const auto& e : CollectorTable()) {
    CollectorSchedule& s = cfg.collectors[std::string(e.name)];
    s.enabled = e.enabled_by_default;
    s.interval = e.default_interval;
  }
  Parser p{getenv, &cfg, error, {}, false, {}, false};
  if (!p.Run(args)) return false;
  // Woken collectors without their own flag: their default, or --db.notify-coalesce
  // when that is longer.
  for (const auto& e : CollectorTable()) {
    CollectorSchedule& s = cfg.collectors.at(std::string(e.name));
    if (!e.woken_by.empty() && !s.notify_coalesce) s.notify_coalesce = std::max(e.default_notify_coalesce, cfg.db_notify_coalesce);
  }
  *out = std::move(cfg);
  return true;
}

std::string HelpText() {
  std::ostringstream o;
  o << "usage: agent_execution_exporter [flags]\n\n"
       "Prometheus exporter for the run and queue tables of an AI-agent execution platform.\n\n"
       "Flags:\n";
  WriteFlagsHelp(o, kFlags);
  ForEachCollectorFlag([&](const CollectorFlag& f) { WriteFlagHelp(o, f.spec); });
  o << "\nCollectors (enable with --collector.<name>, disable with --no-collector.<name>):\n";
  for (const auto& e : CollectorTable()) {
    o << "      --collector." << e.name << "  " << e.help << " (default: "
      << (e.enabled_by_default ? "enabled" : "disabled") << ")\n";
    o << "      --collector." << e.name << ".interval=DURATION  Sampling interval (default: "
      << FormatDuration(e.default_interval) << ")\n";
    o << "      --collector." << e.name << ".timeout=DURATION  Statement timeout of each cycle (default: " << FormatDuration(kDefaultCollectorTimeout) << ")\n";
    if (!e.woken_by.empty()) {
      o << "      --collector." << e.name
        << ".notify-coalesce=DURATION  Least time between two cycles started by notifications, 0 to 10s (default: "
        << (e.default_notify_coalesce.count() > 0 ? FormatDuration(e.default_notify_coalesce) + ", or --db.notify-coalesce when longer"
                                                   : std::string("as --db.notify-coalesce says"))
        << ")\n";
    }
  }
  o << "\nEnvironment:\n  AGENT_EXPORTER_DB_URL  Database URL when neither --db.url nor --db.url-file is given.\n";
  o << "  AGENT_EXPORTER_DB_NOTIFY_URL  LISTEN connection when --db.notify-url is not given.\n";
  return o.str();
}

}  // namespace aee
