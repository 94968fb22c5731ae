#include "tools/sim/config.h"

#include <charconv>
#include <cmath>
#include <ctime>
#include <functional>
#include <map>

namespace aee::sim {
namespace {

template <typename T>
bool ParseInt(const std::string& s, T* out, T min, T max) {
  T v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max) return false;
  *out = v;
  return true;
}

bool ParseDouble(const std::string& s, double* out, double min, double max) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < min || v > max) {
    return false;
  }
  *out = v;
  return true;
}

bool ParseBool(const std::string& s, bool* out) {
  if (s == "true" || s == "1" || s == "yes") {
    *out = true;
  } else if (s == "false" || s == "0" || s == "no") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

// RFC 3339 in UTC ("2024-05-01T12:00:00Z") or Unix seconds.
std::optional<Micros> ParseTime(const std::string& s) {
  double secs = 0;
  if (ParseDouble(s, &secs, 0, 1e11)) return static_cast<Micros>(std::llround(secs * kSecond));
  tm parts{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &parts);
  if (end == nullptr || !(std::string(end) == "Z" || std::string(end) == "+00:00")) {
    return std::nullopt;
  }
  return static_cast<Micros>(timegm(&parts)) * kSecond;
}

struct Flag {
  bool is_bool;
  std::function<bool(const std::string&)> set;  // false: value rejected
  std::string expect;                           // what a valid value looks like
};

}  // namespace

std::string Usage() {
  return R"(usage: agent_platform_sim [flags]

Writes an AI-agent platform's tables (schema/platform.sql) the way a real platform does:
history in bulk (--backfill-days) and/or a live stream of runs (--live).

Database:
  --db.url=URL                 libpq URI or keyword string (env AGENT_EXPORTER_DB_URL)
  --db.schema=NAME             schema holding the tables (default public)
  --init-schema                create the schema and load the reference DDL (idempotent)
  --schema-file=PATH           DDL to load instead of the compiled-in schema/platform.sql

Platform shape:
  --seed=N                     random seed; same seed and flags, same rows (default 1)
  --workspaces=N               (default 3)
  --agents-per-workspace=N     (default 5)
  --workers=N                  (default 8)
  --worker-slots=N             concurrent runs per worker (default 4)
  --rate=R                     mean finished runs per second (default 1)
  --runtime-scale=F            multiply every agent's runtime (default 1)

Backfill:
  --backfill-days=N            N days of finished history ending at --backfill-end
  --backfill-end=TIME          RFC 3339 UTC or Unix seconds (default now); history only
                               starts after the newest run already in the table
  --backfill-jobs=N            parallel connections for the bulk load (default 2)

Live mode:
  --live                       run the platform until SIGINT/SIGTERM or --duration
  --duration=D                 stop after D (e.g. 60s, 5m)
  --scenario=SPEC              name:start=30s,duration=60s[,factor=F] (repeatable);
                               burst, drop, failure-surge, backlog, stuck-runs, slow-model
  --control-file=PATH          poll PATH every 200 ms; each appended line starts a scenario
                               now, e.g. "failure-surge duration=60s factor=0.6"
  --writers=N                  database connections writing run updates (default 4)
  --tick=D                     scheduling step (default 50ms)
  --late-commit-fraction=F     share of terminal updates whose transaction commits late
                               (default 0.02)
  --late-commit-delay=D        how long such a transaction stays open (default 3s)
  --stats-interval=D           period of the stats line on stderr (default 10s)
  --help                       this text
)";
}

ParseResult ParseFlags(const std::vector<std::string>& args, const std::string& env_db_url) {
  ParseResult result;
  Config c;
  c.db_url = env_db_url;
  auto duration = [](Micros* out, bool allow_zero) {
    return [out, allow_zero](const std::string& v) {
      const auto d = ParseDuration(v);
      if (!d || (!allow_zero && *d == 0)) return false;
      *out = *d;
      return true;
    };
  };
  auto integer = [](int* out, int min, int max) {
    return [out, min, max](const std::string& v) { return ParseInt(v, out, min, max); };
  };
  auto number = [](double* out, double min, double max) {
    return [out, min, max](const std::string& v) { return ParseDouble(v, out, min, max); };
  };
  auto boolean = [](bool* out) { return [out](const std::string& v) { return ParseBool(v, out); }; };
  std::string scenario_error;

  const std::map<std::string, Flag> flags = {
      {"db.url", {false, [&](const std::string& v) { c.db_url = v; return !v.empty(); }, "a libpq connection string"}},
      {"db.schema", {false, [&](const std::string& v) { c.db_schema = v; return !v.empty(); }, "a schema name"}},
      {"init-schema", {true, boolean(&c.init_schema), "true or false"}},
      {"schema-file", {false, [&](const std::string& v) { c.schema_file = v; return !v.empty(); }, "a file path"}},
      {"seed", {false, [&](const std::string& v) { return ParseInt<uint64_t>(v, &c.platform.seed, 0, UINT64_MAX); }, "an unsigned integer"}},
      {"workspaces", {false, integer(&c.platform.workspaces, 1, 100000), "an integer in [1, 100000]"}},
      {"agents-per-workspace", {false, integer(&c.platform.agents_per_workspace, 1, 1000), "an integer in [1, 1000]"}},
      {"workers", {false, integer(&c.platform.workers, 1, 100000), "an integer in [1, 100000]"}},
      {"worker-slots", {false, integer(&c.platform.worker_slots, 1, 1000), "an integer in [1, 1000]"}},
      {"rate", {false, number(&c.platform.rate, 0, 1e6), "a number of runs per second >= 0"}},
      {"runtime-scale", {false, number(&c.platform.runtime_scale, 1e-3, 1e4), "a positive number"}},
      {"backfill-days", {false, integer(&c.backfill_days, 0, 3660), "an integer in [0, 3660]"}},
      {"backfill-end", {false, [&](const std::string& v) { c.backfill_end = ParseTime(v); return c.backfill_end.has_value(); }, "RFC 3339 UTC (2024-05-01T12:00:00Z) or Unix seconds"}},
      {"backfill-jobs", {false, integer(&c.backfill_jobs, 1, 64), "an integer in [1, 64]"}},
      {"live", {true, boolean(&c.live), "true or false"}},
      {"duration", {false, duration(&c.duration, true), "a duration like 60s or 5m"}},
      {"scenario", {false, [&](const std::string& v) {
                      auto s = ParseScenario(v, &scenario_error);
                      if (s) c.scenarios.push_back(*s);
                      return s.has_value();
                    }, "name:start=30s,duration=60s[,factor=F]"}},
      {"control-file", {false, [&](const std::string& v) { c.control_file = v; return !v.empty(); }, "a file path"}},
      {"writers", {false, integer(&c.writers, 1, 64), "an integer in [1, 64]"}},
      {"tick", {false, duration(&c.tick, false), "a positive duration like 50ms"}},
      {"late-commit-fraction", {false, number(&c.late_commit_fraction, 0, 1), "a fraction in [0, 1]"}},
      {"late-commit-delay", {false, duration(&c.late_commit_delay, true), "a duration like 3s"}},
      {"stats-interval", {false, duration(&c.stats_interval, false), "a positive duration like 10s"}},
  };

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      return result;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      result.error = "unexpected argument \"" + arg + "\" (flags look like --name=value)";
      return result;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const auto it = flags.find(name);
    if (it == flags.end()) {
      result.error = "unknown flag --" + name + " (see --help)";
      return result;
    }
    const Flag& f = it->second;
    if (!value) {
      if (f.is_bool) {
        value = "true";
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        result.error = "flag --" + name + " needs a value (" + f.expect + ")";
        return result;
      }
    }
    scenario_error.clear();
    if (!f.set(*value)) {
      result.error = "invalid value \"" + *value + "\" for flag --" + name + ": " +
                     (scenario_error.empty() ? "want " + f.expect : scenario_error);
      return result;
    }
  }
  if (c.db_url.empty()) {
    result.error = "flag --db.url is required (or set AGENT_EXPORTER_DB_URL)";
    return result;
  }
  if (!c.init_schema && c.backfill_days == 0 && !c.live) {
    result.error = "nothing to do: give --init-schema, --backfill-days and/or --live";
    return result;
  }
  if (!c.live && (!c.scenarios.empty() || !c.control_file.empty() || c.duration != 0)) {
    result.error = "flags --scenario, --control-file and --duration need --live";
    return result;
  }
  result.config = std::move(c);
  return result;
}

}  // namespace aee::sim
