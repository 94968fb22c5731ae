// agent_execution_rollup: writes analytics.execution_metrics_minute (per workspace
// and minute) from the platform tables. See docs/rollup.md.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "core/db.h"
#include "core/flags.h"
#include "core/log.h"
#include "rollup/analytics_sql.h"
#include "rollup/rollup_config.h"
#include "rollup/rollup_writer.h"

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

std::int64_t NowUs() {
  return duration_cast<microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void InitSchema(aee::DbSession& db, const std::string& quoted_schema) {
  pqxx::work tx(db.Get());
  tx.exec("SET TRANSACTION READ WRITE");
  // The spec's REFERENCES workspaces(id) resolves to the platform schema.
  tx.exec("SET LOCAL search_path = " + quoted_schema);
  tx.exec(aee::rollup::kAnalyticsSchemaSql);
  tx.commit();
}

// Logs a failure once per distinct message, and the recovery once.
class ErrorState {
 public:
  explicit ErrorState(aee::Logger& logger) : logger_(logger) {}
  void Failed(std::string_view what, const std::exception& e) {
    const std::string message = logger_.Redact(e.what());
    if (message != last_)
      logger_.Log(aee::LogLevel::kError, std::string(what) + " failed; retrying", {{"err", message}});
    last_ = message;
  }
  void Succeeded() {
    if (!last_.empty()) logger_.Log(aee::LogLevel::kInfo, "database writes recovered");
    last_.clear();
  }

 private:
  aee::Logger& logger_;
  std::string last_;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  aee::rollup::RollupConfig config;
  std::string error;
  const bool parsed = aee::rollup::ParseRollupFlags(
      args, [](const char* name) { return std::getenv(name); }, &config, &error);
  if (const std::optional<int> code = aee::AnswerCommandLine("agent_execution_rollup", parsed,
                                                             aee::RedactSecrets(error), config.show_help,
                                                             aee::rollup::RollupHelpText, config.show_version)) {
    return *code;
  }
  setenv("PGCONNECT_TIMEOUT", "5", 0);

  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<std::string> secrets = aee::ConnectionSecrets(config.db_url);
  if (const char* pgpassword = std::getenv("PGPASSWORD"); pgpassword != nullptr) secrets.emplace_back(pgpassword);
  aee::Logger logger(config.log_level, config.log_format, aee::Redactor(std::move(secrets)));
  if (config.db_url_from_flag && aee::RedactSecrets(config.db_url) != config.db_url) {
    logger.Log(aee::LogLevel::kWarn,
               "--db.url holds a password that process listings show; use --db.url-file or AGENT_ROLLUP_DB_URL");
  }

  aee::DbSession db(config.db_url, "agent_execution_rollup");
  aee::rollup::RollupOptions options;
  options.quoted_schema = aee::QuoteIdentifier(config.db_schema);
  options.lateness = config.lateness;
  options.sweep_interval = config.sweep_interval;
  options.workers_stale_after = config.workers_stale_after;
  options.timeout = config.timeout;
  options.sampling = !config.backfill && !config.once && config.sample_interval.count() > 0;
  aee::rollup::RollupWriter writer(options, &logger);

  const auto one_shot = [&](std::string_view what, auto&& body) {
    try {
      body();
      return 0;
    } catch (const std::exception& e) {
      logger.Log(aee::LogLevel::kError, std::string(what) + " failed", {{"err", logger.Redact(e.what())}});
      return 1;
    }
  };
  if (config.init_schema) {
    if (int rc = one_shot("init-schema", [&] { InitSchema(db, options.quoted_schema); }); rc != 0) return rc;
    logger.Log(aee::LogLevel::kInfo, "analytics schema ready");
  }
  if (config.backfill) {
    return one_shot("backfill", [&] {
      // Minutes still running are left to the running writer.
      const std::int64_t closed = aee::rollup::RollupWriter::MinuteStart(NowUs() - aee::DailyWindow::kClockSlackUs);
      const std::int64_t to = std::min(config.to_us, closed);
      if (to <= config.from_us) throw std::runtime_error("--from is not before the last minute that ended");
      const auto start = std::chrono::steady_clock::now();
      writer.Backfill(db, config.from_us, to);
      logger.Log(aee::LogLevel::kInfo, "backfill done",
                 {{"from", aee::FormatRfc3339Millis(config.from_us)},
                  {"to", aee::FormatRfc3339Millis(to)},
                  {"minutes", std::to_string(writer.stats().minutes_aggregated)},
                  {"rows_written", std::to_string(writer.stats().rows_written)},
                  {"seconds",
                   std::to_string(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count())}});
    });
  }
  if (config.once) {
    return one_shot("aggregation", [&] {
      writer.Cycle(db, NowUs());
      logger.Log(aee::LogLevel::kInfo, "aggregated",
                 {{"aggregated_to", aee::FormatRfc3339Millis(writer.aggregated_to_us())},
                  {"rows_written", std::to_string(writer.stats().rows_written)}});
    });
  }

  logger.Log(aee::LogLevel::kInfo, "started",
             {{"db", logger.Redact(config.db_url.empty() ? "(libpq defaults)" : config.db_url)},
              {"schema", config.db_schema},
              {"interval", aee::FormatDuration(config.interval)},
              {"lateness", aee::FormatDuration(config.lateness)},
              {"sample_interval", aee::FormatDuration(config.sample_interval)},
              {"version", AEE_VERSION}});
  ErrorState sample_errors(logger), cycle_errors(logger);
  const std::int64_t sample_us = duration_cast<microseconds>(config.sample_interval).count();
  const std::int64_t interval_us = duration_cast<microseconds>(config.interval).count();
  std::int64_t next_sample = NowUs(), next_cycle = next_sample;
  // One step of the loop; a failure is logged by its ErrorState and drops the connection.
  auto attempt = [&db](ErrorState& errors, const char* what, const auto& step) {
    try {
      step();
      errors.Succeeded();
    } catch (const std::exception& e) {
      errors.Failed(what, e);
      db.Reset();
    }
  };
  while (true) {
    std::int64_t now = NowUs();
    if (options.sampling && now >= next_sample) {
      attempt(sample_errors, "sample", [&] { writer.Sample(db, now); });
      next_sample += sample_us;
      if (next_sample <= now) next_sample = now + sample_us;  // fell behind: skip, do not burst
    }
    now = NowUs();
    if (now >= next_cycle) {
      attempt(cycle_errors, "aggregation", [&] { writer.Cycle(db, now); });
      next_cycle = now + interval_us;
    }
    const std::int64_t wake = options.sampling ? std::min(next_sample, next_cycle) : next_cycle;
    const std::int64_t wait_us = std::max<std::int64_t>(wake - NowUs(), 0);
    timespec timeout{static_cast<time_t>(wait_us / 1'000'000), static_cast<long>(wait_us % 1'000'000) * 1000};
    if (sigtimedwait(&stop_signals, nullptr, &timeout) > 0) break;
  }
  // The current minute's samples, so a restart adds to them instead of losing them.
  const int rc = one_shot("flushing samples", [&] { writer.Shutdown(db); });
  logger.Log(aee::LogLevel::kInfo, "stopped",
             {{"aggregated_to", aee::FormatRfc3339Millis(writer.aggregated_to_us())},
              {"rows_written", std::to_string(writer.stats().rows_written)}});
  return rc;
}
