#include "rollup/rollup_config.h"

#include <cctype>
#include <charconv>
#include <ctime>
#include <sstream>
#include <string_view>

#include "core/db.h"
#include "core/flags.h"

namespace aee::rollup {
namespace {

using std::chrono::milliseconds;

using Kind = FlagKind;

// The flags as data: parsing and --help come from this table (the exporter's
// style, exporter/config.cc); docs/rollup.md lists the same flags.
constexpr FlagSpec kFlags[] = {
    {"db.url", Kind::kString, "", "libpq URI or keyword string of the platform database, with a role that may write the analytics schema (visible in process listings: prefer --db.url-file or AGENT_ROLLUP_DB_URL)."},
    {"db.url-file", Kind::kString, "", "File holding the libpq URI or keyword string."},
    {"db.schema", Kind::kString, "public", "Schema holding the platform tables (agent_runs, execution_queue, workers, workspaces)."},
    {"rollup.interval", Kind::kDuration, "10s", "How often the minutes that ended, and those late commits may still change, are aggregated."},
    {"rollup.lateness", Kind::kDuration, "5m", "How much later than its finished_at a run may commit and still be counted (use the exporter's --collector.runs.lateness)."},
    {"rollup.sweep-interval", Kind::kDuration, "5m", "How often the whole lateness window is re-aggregated for application-stamped late commits (0 = never)."},
    {"rollup.sample-interval", Kind::kDuration, "1s", "How often the queue depth and the workers are sampled for the per-minute max/avg columns (0 = no sampling: those columns stay NULL)."},
    {"rollup.workers-stale-after", Kind::kDuration, "1m", "A worker whose last heartbeat is older than this is offline (use the exporter's --collector.workers.stale-after)."},
    {"rollup.timeout", Kind::kDuration, "60s", "Statement timeout of each database round trip."},
    {"from", Kind::kTime, "", "Backfill: first minute to re-aggregate (UTC, 2026-11-30 or 2026-11-30T08:15Z); needs --to; the process exits when done."},
    {"to", Kind::kTime, "", "Backfill: end of the range, exclusive (rounded up to a whole minute)."},
    {"init-schema", Kind::kBool, "false", "Create the analytics schema and tables first (schema/analytics.sql, compiled in; idempotent)."},
    {"once", Kind::kBool, "false", "Aggregate once (catch up from the stored progress to the last minute that ended) and exit; no sampling."},
    {"log.level", Kind::kString, "info", "Minimum log level: debug, info, warn, error."},
    {"log.format", Kind::kString, "logfmt", "Log format: logfmt or json."},
};

bool Digits(std::string_view text, size_t pos, size_t n, int* out) {
  if (pos + n > text.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
    v = v * 10 + (text[i] - '0');
  }
  *out = v;
  return true;
}

constexpr std::int64_t kMinuteUs = 60'000'000;

struct Parser {
  const EnvLookup& getenv;
  RollupConfig* cfg;
  std::string* error;
  std::string db_url_file;
  bool db_url_set = false;
  bool from_set = false;
  bool to_set = false;

  bool Fail(std::string_view flag, const std::string& why) {
    *error = FlagError(flag, why);
    return false;
  }

  bool Duration(std::string_view flag, std::string_view value, milliseconds* out, bool allow_zero) {
    if (!ParseDuration(value, out)) return Fail(flag, "invalid duration \"" + std::string(value) + "\" (use e.g. 500ms, 5s, 1m)");
    if (!allow_zero && out->count() <= 0) return Fail(flag, "must be greater than 0");
    return true;
  }

  bool Set(const FlagSpec& f, std::string_view v) {
    std::string_view n = f.name;
    if (n == "db.url") {
      cfg->db_url = v;
      cfg->db_url_from_flag = true;
      db_url_set = true;
    } else if (n == "db.url-file") {
      if (v.empty()) return Fail(n, "must not be empty");
      db_url_file = v;
    } else if (n == "db.schema") {
      if (v.empty()) return Fail(n, "must not be empty");
      cfg->db_schema = v;
    } else if (n == "rollup.interval") {
      if (!Duration(n, v, &cfg->interval, false)) return false;
      if (cfg->interval < milliseconds(100)) return Fail(n, "must be at least 100ms");
    } else if (n == "rollup.lateness") {
      return Duration(n, v, &cfg->lateness, true);
    } else if (n == "rollup.sweep-interval") {
      return Duration(n, v, &cfg->sweep_interval, true);
    } else if (n == "rollup.sample-interval") {
      if (!Duration(n, v, &cfg->sample_interval, true)) return false;
      if (cfg->sample_interval.count() != 0 &&
          (cfg->sample_interval < milliseconds(100) || cfg->sample_interval > milliseconds(60000))) {
        return Fail(n, "want 0 (no sampling) or a duration from 100ms to 1m");
      }
    } else if (n == "rollup.workers-stale-after") {
      return Duration(n, v, &cfg->workers_stale_after, false);
    } else if (n == "rollup.timeout") {
      return Duration(n, v, &cfg->timeout, false);
    } else if (n == "from" || n == "to") {
      std::int64_t us = 0;
      if (!ParseUtcTime(v, &us)) {
        return Fail(n, "invalid time \"" + std::string(v) + "\" (want UTC: 2026-11-30, 2026-11-30T08:15Z or 2026-11-30T08:15:00Z)");
      }
      if (n == "from") {
        cfg->from_us = us - (((us % kMinuteUs) + kMinuteUs) % kMinuteUs);  // down to its minute
        from_set = true;
      } else {
        const std::int64_t rem = ((us % kMinuteUs) + kMinuteUs) % kMinuteUs;
        cfg->to_us = rem == 0 ? us : us + (kMinuteUs - rem);  // up to a whole minute
        to_set = true;
      }
    } else if (n == "once" || n == "init-schema") {
      if (v != "true" && v != "false") return Fail(n, "want true or false, got \"" + std::string(v) + "\"");
      (n == "once" ? cfg->once : cfg->init_schema) = v == "true";
    } else if (n == "log.level") {
      if (!ParseLogLevel(v, &cfg->log_level)) return Fail(n, "want debug, info, warn or error, got \"" + std::string(v) + "\"");
    } else if (n == "log.format") {
      if (!ParseLogFormat(v, &cfg->log_format)) return Fail(n, "want logfmt or json, got \"" + std::string(v) + "\"");
    }
    return true;
  }

  bool Run(const std::vector<std::string>& args) {
    auto arity = [](std::string_view name) { return ArityOf(FindFlag(kFlags, name)); };
    if (!WalkFlags(
            args, arity, [this](const FlagArg& arg) { return Set(*FindFlag(kFlags, arg.name), arg.value); }, &cfg->show_help,
            &cfg->show_version, error)) {
      return false;
    }
    return Finish();
  }

  bool Finish() {
    if (from_set != to_set) return Fail(from_set ? "from" : "to", "a backfill needs both --from and --to");
    if (from_set) {
      if (cfg->to_us <= cfg->from_us) return Fail("to", "must be later than --from");
      if (cfg->once) return Fail("once", "cannot be combined with --from/--to (a backfill runs once)");
      cfg->backfill = true;
    }
    const ConnectionStringSources url{"db.url", db_url_set, cfg->db_url, db_url_file, "AGENT_ROLLUP_DB_URL",
                                      getenv("AGENT_ROLLUP_DB_URL")};
    if (!ResolveConnectionString(url, &cfg->db_url, error)) return false;
    return true;
  }
};

}  // namespace

bool ParseUtcTime(std::string_view text, std::int64_t* us) {
  if (text.size() >= 6 && text.substr(text.size() - 6) == "+00:00") text = text.substr(0, text.size() - 6);
  else if (!text.empty() && text.back() == 'Z') text = text.substr(0, text.size() - 1);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!Digits(text, 0, 4, &y) || text.size() < 10 || text[4] != '-' || !Digits(text, 5, 2, &mo) || text[7] != '-' ||
      !Digits(text, 8, 2, &d)) {
    return false;
  }
  if (text.size() > 10) {
    if ((text[10] != 'T' && text[10] != ' ') || !Digits(text, 11, 2, &h) || text.size() < 16 || text[13] != ':' ||
        !Digits(text, 14, 2, &mi)) {
      return false;
    }
    if (text.size() > 16 && (text.size() != 19 || text[16] != ':' || !Digits(text, 17, 2, &s))) return false;
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const std::time_t t = timegm(&tm);
  std::tm back{};
  gmtime_r(&t, &back);
  if (back.tm_mday != d) return false;  // 2026-02-30
  *us = static_cast<std::int64_t>(t) * 1'000'000;
  return true;
}

bool ParseRollupFlags(const std::vector<std::string>& args, const EnvLookup& getenv, RollupConfig* out,
                      std::string* error) {
  RollupConfig cfg;
  Parser p{getenv, &cfg, error, {}, false, false, false};
  if (!p.Run(args)) return false;
  *out = std::move(cfg);
  return true;
}

std::string RollupHelpText() {
  std::ostringstream o;
  o << "usage: agent_execution_rollup [flags]\n\n"
       "Writes analytics.execution_metrics_minute (per workspace and minute: executions, queue and\n"
       "execution latency, queue depth, worker load) from the platform tables. See docs/rollup.md.\n\n"
       "Flags:\n";
  WriteFlagsHelp(o, kFlags);
  o << "\nEnvironment:\n  AGENT_ROLLUP_DB_URL  Database URL when neither --db.url nor --db.url-file is given.\n";
  return o.str();
}

}  // namespace aee::rollup
