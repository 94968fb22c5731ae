#include "exporter/config.h"

#include <cctype>
#include <charconv>
#include <sstream>

#include "collectors/registry.h"
#include "core/flags.h"
#include "collectors/scope.h"
#include "exporter/change_listener.h"
#include "exporter/db.h"
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
    {"db.notify-coalesce", Kind::kDuration, "20ms", "Least time between two cycles a collector starts on notifications: a burst of changes costs one cycle."},
    {"db.notify-url", Kind::kString, "", "Connection for LISTEN alone (a direct one to the primary) when --db.url goes through a transaction pooler or to a hot standby (or AGENT_EXPORTER_DB_NOTIFY_URL); empty = LISTEN on --db.url unless that goes through a transaction pooler (then poll only)."},
    {"db.pooler", Kind::kString, "none", "What --db.url connects through: none (or session: a pooler in session mode), or transaction (PgBouncer pool_mode=transaction: no prepared statements, no session settings, no LISTEN)."},
    {"db.max-replay-lag", Kind::kDuration, "0", "On a hot standby, /readyz answers 503 while agent_exporter_db_replay_lag_seconds is above this (0 = lag never makes it unready)."},
    {"collector.realtime.top-runs", Kind::kInt, "10", "Longest-running runs per workspace exposed with run_id (0 turns agent_run_elapsed_seconds off)."},
    {"collector.realtime.overdue-factor", Kind::kString, "3", "A running run counts in agent_runs_overdue once it has run this many times its estimated_runtime."},
    {"collector.realtime.resync-interval", Kind::kDuration, "60s", "With --db.notify-channel and schema/notify.sql's triggers, a realtime sample re-reads only the rows announced since the last one and reads every running and waiting row at most this long apart; 0 = read every row each sample."},
    {"collector.runs.lateness", Kind::kDuration, "5m", "How much later than its finished_at a run may commit and still be counted."},
    {"collector.runs.sweep-interval", Kind::kDuration, "5m", "How often the whole lateness window is re-read for application-stamped late commits (0 = never)."},
    {"collector.runs.agent-histograms", Kind::kBool, "false", "Add agent_id to the run latency histograms (cardinality x agents)."},
    {"collector.workers.stale-after", Kind::kDuration, "1m", "A worker whose last heartbeat is older than this counts as offline."},
    {"collector.workers.per-worker", Kind::kBool, "false", "Also expose one series per worker (cardinality x workers)."},
    {"collector.models.max-models", Kind::kInt, "50", "Models exposed by name per day; calls of further models count as model=\"other\"."},
    {"collector.models.lateness", Kind::kDuration, "5m", "How much later than its created_at a model call may commit and still be counted."},
    {"collector.models.sweep-interval", Kind::kDuration, "5m", "How often the whole lateness window of model calls is re-read (0 = never)."},
    {"shard.count", Kind::kInt, "1", "Number of exporters the workspaces are split between (docs/operations.md, Scaling out)."},
    {"shard.index", Kind::kInt, "0", "This exporter's share, from 0 to the shard count - 1: the workspaces whose md5(id) % count is the index, and the shared pool on shard 0."},
    {"collector.workspaces.include", Kind::kString, "", "Expose only workspaces whose id or name matches this regular expression (anchored; empty = all)."},
    {"collector.workspaces.exclude", Kind::kString, "", "Leave out workspaces whose id or name matches this regular expression (anchored; empty = none)."},
    {"collector.agents.max-per-workspace", Kind::kInt, "0", "Agents exposed by agent_id per workspace and day; runs of further agents count as agent_id=\"other\" (0 = no cap)."},
    {"collector.agents.per-agent-label", Kind::kBool, "true", "Label the finished-run counters by agent_id; false counts per workspace only and leaves agent_info out."},
    {"collector.patterns.lookback-days", Kind::kInt, "28", "Complete days the execution patterns look back over."},
    {"collector.patterns.timezone", Kind::kString, "UTC", "Time zone of the days and hours of the execution patterns (e.g. Europe/Paris)."},
    {"collector.patterns.cycle-budget", Kind::kDuration, "500ms", "Time a patterns cycle may spend reading days not cached yet before the next cycle takes over (start-up at large tables)."},
    {"api.enabled", Kind::kBool, "true", "Serve the live view: /api/v1/workspaces JSON, the execution_update WebSocket and the /live page."},
    {"api.max-executions", Kind::kInt, "500", "Running runs and queue entries listed per workspace and list by the live view (the totals stay exact)."},
    {"api.max-clients", Kind::kInt, "32", "Live view WebSocket subscribers at once, 503 beyond; each holds an HTTP worker, so at most --web.max-connections minus 4."},
    {"api.queue-order", Kind::kString, "priority", "Order in which the platform dequeues: priority (highest priority, then oldest first) or fifo (oldest first)."},
    {"api.user-id", Kind::kString, "omit", "agent_runs.user_id in the live view: omit (not even read), hash (an HMAC-SHA256 keyed by the file of --api.user-id-key-file ) or plain."},
    {"api.user-id-key-file", Kind::kString, "", "File holding the HMAC key for --api.user-id=hash (at least 16 bytes)."},
    {"log.level", Kind::kString, "info", "Minimum log level: debug, info, warn, error."},
    {"log.format", Kind::kString, "logfmt", "Log format: logfmt or json."},
};

bool ParseInt(std::string_view text, int* out) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  *out = v;
  return true;
}

bool ParseBool(std::string_view text, bool* out) {
  if (text == "true" || text == "1") *out = true;
  else if (text == "false" || text == "0") *out = false;
  else return false;
  return true;
}

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
  return ParseInt(port_text, &port) && port <= 65535;
}

// PostgreSQL resolves the name (an invalid one fails the patterns collector with
// its error); this only rejects what cannot be a zone: empty, too long, odd characters.
bool ValidTimeZoneName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '-' && c != '+' && c != ':') {
      return false;
    }
  }
  return true;
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
    if (!ParseDuration(value, out)) return Fail(flag, "invalid duration \"" + std::string(value) + "\" (use e.g. 500ms, 5s, 1m)");
    if (!allow_zero && out->count() <= 0) return Fail(flag, "must be greater than 0");
    return true;
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
      int k = 0;
      if (!ParseInt(v, &k) || k < 1 || k > 1000000) return Fail(n, "want an integer from 1 to 1000000, got \"" + std::string(v) + "\"");
      cfg->rate_limit_burst = k;
    } else if (n == "web.max-connections") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 4 || k > 4096) return Fail(n, "want an integer from 4 to 4096, got \"" + std::string(v) + "\"");
      cfg->max_connections = k;
    } else if (n == "web.max-connections-per-client") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 0 || k > 4096) return Fail(n, "want 0 (no cap) or an integer up to 4096, got \"" + std::string(v) + "\"");
      cfg->max_connections_per_client = k;
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
      if (!Duration(n, v, &cfg->db_notify_coalesce, true)) return false;
      if (cfg->db_notify_coalesce > milliseconds(10000)) return Fail(n, "want a duration from 0 to 10s");
    } else if (n == "collector.realtime.top-runs") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 0 || k > 1000) return Fail(n, "want an integer from 0 to 1000, got \"" + std::string(v) + "\"");
      cfg->realtime.top_runs = k;
    } else if (n == "collector.realtime.overdue-factor") {
      double factor = 0;
      auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), factor);
      if (ec != std::errc() || ptr != v.data() + v.size() || !(factor >= 1 && factor <= 1000)) {
        return Fail(n, "want a number from 1 to 1000, got \"" + std::string(v) + "\"");
      }
      cfg->realtime.overdue_factor = factor;
    } else if (n == "collector.realtime.resync-interval") {
      return Duration(n, v, &cfg->realtime.resync_interval, true);
    } else if (n == "api.enabled") {
      if (!ParseBool(v, &cfg->api_enabled)) return Fail(n, "want true or false");
    } else if (n == "api.max-executions") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 1 || k > 10000) return Fail(n, "want an integer from 1 to 10000, got \"" + std::string(v) + "\"");
      cfg->api_max_executions = k;
    } else if (n == "api.max-clients") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 1 || k > 4096) return Fail(n, "want an integer from 1 to 4096, got \"" + std::string(v) + "\"");
      cfg->api.max_clients = k;
      api_max_clients_set = true;
    } else if (n == "api.queue-order") {
      if (v != "priority" && v != "fifo") return Fail(n, "want priority or fifo, got \"" + std::string(v) + "\"");
      cfg->realtime.queue_fifo = v == "fifo";
    } else if (n == "api.user-id") {
      if (v == "omit") cfg->realtime.user_id = UserIdMode::kOmit;
      else if (v == "hash") cfg->realtime.user_id = UserIdMode::kHash;
      else if (v == "plain") cfg->realtime.user_id = UserIdMode::kPlain;
      else return Fail(n, "want omit, hash or plain, got \"" + std::string(v) + "\"");
    } else if (n == "api.user-id-key-file") {
      if (v.empty()) return Fail(n, "must not be empty");
      user_id_key_file = v;
    } else if (n == "collector.runs.lateness") {
      return Duration(n, v, &cfg->runs.lateness, true);
    } else if (n == "collector.runs.sweep-interval") {
      return Duration(n, v, &cfg->runs.sweep_interval, true);
    } else if (n == "collector.runs.agent-histograms") {
      if (!ParseBool(v, &cfg->runs.agent_histograms)) return Fail(n, "want true or false");
    } else if (n == "collector.workers.stale-after") {
      return Duration(n, v, &cfg->workers.stale_after, false);
    } else if (n == "collector.workers.per-worker") {
      if (!ParseBool(v, &cfg->workers.per_worker)) return Fail(n, "want true or false");
    } else if (n == "collector.models.max-models") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 1 || k > 10000) return Fail(n, "want an integer from 1 to 10000, got \"" + std::string(v) + "\"");
      cfg->models.max_models = k;
    } else if (n == "collector.models.lateness") {
      return Duration(n, v, &cfg->models.lateness, true);
    } else if (n == "collector.models.sweep-interval") {
      return Duration(n, v, &cfg->models.sweep_interval, true);
    } else if (n == "shard.count") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 1 || k > 4096) return Fail(n, "want an integer from 1 to 4096, got \"" + std::string(v) + "\"");
      cfg->shard.count = k;
    } else if (n == "shard.index") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 0 || k > 4095) return Fail(n, "want an integer from 0 to --shard.count - 1, got \"" + std::string(v) + "\"");
      cfg->shard.index = k;
    } else if (n == "collector.workspaces.include" || n == "collector.workspaces.exclude") {
      std::string why;
      if (!ValidWorkspaceRegex(std::string(v), &why)) {
        return Fail(n, "invalid regular expression \"" + std::string(v) + "\": " + why);
      }
      (n == "collector.workspaces.include" ? cfg->workspaces_include : cfg->workspaces_exclude) = v;
    } else if (n == "collector.agents.max-per-workspace") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 0 || k > 100000) return Fail(n, "want 0 (no cap) or an integer up to 100000, got \"" + std::string(v) + "\"");
      cfg->runs.max_agents_per_workspace = k;
    } else if (n == "collector.agents.per-agent-label") {
      if (!ParseBool(v, &cfg->runs.per_agent_label)) return Fail(n, "want true or false");
    } else if (n == "collector.patterns.lookback-days") {
      int k = 0;
      if (!ParseInt(v, &k) || k < 1 || k > 366) return Fail(n, "want an integer from 1 to 366, got \"" + std::string(v) + "\"");
      cfg->patterns.lookback_days = k;
    } else if (n == "collector.patterns.timezone") {
      if (!ValidTimeZoneName(v)) return Fail(n, "invalid time zone name \"" + std::string(v) + "\" (want e.g. UTC, Europe/Paris, +02:00)");
      cfg->patterns.timezone = v;
    } else if (n == "collector.patterns.cycle-budget") {
      if (!Duration(n, v, &cfg->patterns.cycle_budget, false)) return false;
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
    if (!cfg->runs.per_agent_label && cfg->runs.agent_histograms) {
      return Fail("collector.runs.agent-histograms", "needs per-agent labels (--collector.agents.per-agent-label=false is set)");
    }
    if (cfg->realtime.user_id == UserIdMode::kHash) {
      if (user_id_key_file.empty()) return Fail("api.user-id", "hash needs --api.user-id-key-file");
      std::string why;
      if (!ReadTrimmedFile(user_id_key_file, &cfg->realtime.user_id_key, &why)) return Fail("api.user-id-key-file", why);
      if (cfg->realtime.user_id_key.size() < 16) return Fail("api.user-id-key-file", "the key must hold at least 16 bytes");
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
    cfg->realtime.live_cap = cfg->api_enabled ? cfg->api_max_executions : 0;
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

bool ParseDuration(std::string_view text, milliseconds* out) {
  if (text.empty()) return false;
  if (text == "0") {
    *out = milliseconds(0);
    return true;
  }
  double total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (i == start) return false;
    double number = 0;
    auto [ptr, ec] = std::from_chars(text.data() + start, text.data() + i, number);
    if (ec != std::errc() || ptr != text.data() + i) return false;
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return false;
    total_ms += number * scale;
  }
  if (total_ms > 365.0 * 86'400'000) return false;
  *out = milliseconds(static_cast<long long>(total_ms + 0.5));
  return true;
}

std::string FormatDuration(milliseconds d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  long long s = ms / 1000;
  if (s >= 3600) {
    out += std::to_string(s / 3600) + "h";
    s %= 3600;
  }
  if (s >= 60) {
    out += std::to_string(s / 60) + "m";
    s %= 60;
  }
  if (s > 0) out += std::to_string(s) + "s";
  return out;
}

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

bool ParseFlags(const std::vector<std::string>& args, const EnvLookup& getenv, Config* out,
                std::string* error) {
  Config cfg;
  for (const auto& e : CollectorTable()) {
    cfg.collectors[std::string(e.name)] = CollectorSchedule{e.enabled_by_default, e.default_interval,
                                                            milliseconds(10000)};
  }
  Parser p{getenv, &cfg, error, {}, false, {}, false};
  if (!p.Run(args)) return false;
  *out = std::move(cfg);
  return true;
}

std::string HelpText() {
  std::ostringstream o;
  o << "usage: agent_execution_exporter [flags]\n\n"
       "Prometheus exporter for the run and queue tables of an AI-agent execution platform.\n\n"
       "Flags:\n"
       "  -h, --help                      Show this help and exit.\n"
       "      --version                   Show version and exit.\n";
  for (const auto& f : kFlags) WriteFlagHelp(o, f);
  o << "\nCollectors (enable with --collector.<name>, disable with --no-collector.<name>):\n";
  for (const auto& e : CollectorTable()) {
    o << "      --collector." << e.name << "  " << e.help << " (default: "
      << (e.enabled_by_default ? "enabled" : "disabled") << ")\n";
    o << "      --collector." << e.name << ".interval=DURATION  Sampling interval (default: "
      << FormatDuration(e.default_interval) << ")\n";
    o << "      --collector." << e.name << ".timeout=DURATION  Statement timeout of each cycle (default: 10s)\n";
  }
  o << "\nEnvironment:\n  AGENT_EXPORTER_DB_URL  Database URL when neither --db.url nor --db.url-file is given.\n";
  o << "  AGENT_EXPORTER_DB_NOTIFY_URL  LISTEN connection when --db.notify-url is not given.\n";
  return o.str();
}

}  // namespace aee
