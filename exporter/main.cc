// agent_execution_exporter: Prometheus exporter for an AI-agent platform's
// run and queue tables. See README.md and docs/.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "core/db.h"
#include "core/flags.h"
#include "core/log.h"
#include "exporter/app.h"
#include "exporter/config.h"

int main(int argc, char** argv) {
  // glibc gives each thread that allocates an arena of its own; with a thread per
  // collector and per HTTP worker that is ~70 half-empty heaps for a process that
  // allocates little and rarely at once. Two arenas: a few MB less resident memory,
  // no measurable contention (docs/benchmarks.md). MALLOC_ARENA_MAX overrides.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  std::vector<std::string> args(argv + 1, argv + argc);
  aee::Config config;
  std::string error;
  const bool parsed = aee::ParseFlags(args, [](const char* name) { return std::getenv(name); }, &config, &error);
  if (const std::optional<int> code = aee::AnswerCommandLine("agent_execution_exporter", parsed,
                                                             aee::RedactSecrets(error), config.show_help,
                                                             aee::HelpText, config.show_version)) {
    return *code;
  }
  // A connection attempt to a black-holed host must not stall a collector for
  // minutes; libpq reads this when the URL does not set connect_timeout itself.
  setenv("PGCONNECT_TIMEOUT", "5", 0);

  // Block the stop signals before any thread starts (threads inherit the mask),
  // then wait for them synchronously here.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Every string the process logs, stores or serves goes through a redactor that
  // knows the database password (as written and decoded) and libpq's own.
  std::vector<std::string> secrets = aee::ConnectionSecrets(config.db_url);
  for (auto& s : aee::ConnectionSecrets(config.db_notify_url)) secrets.push_back(std::move(s));
  if (const char* pgpassword = std::getenv("PGPASSWORD"); pgpassword != nullptr) secrets.emplace_back(pgpassword);
  aee::Logger logger(config.log_level, config.log_format, aee::Redactor(std::move(secrets)));
  aee::SystemClock clock;
  aee::Exporter exporter(config, clock, logger);
  if (!exporter.Start(&error)) {
    logger.Log(aee::LogLevel::kError, "cannot start", {{"err", error}});
    return 1;
  }
  std::string collectors;
  for (const auto& s : exporter.scheduler().Status()) collectors += (collectors.empty() ? "" : ",") + s.name;
  logger.Log(aee::LogLevel::kInfo, "listening",
             {{"address", config.listen_address},
              {"port", std::to_string(exporter.port())},
              {"db", logger.Redact(config.db_url.empty() ? "(libpq defaults)" : config.db_url)},
              {"schema", config.db_schema},
              {"collectors", collectors},
              {"tls", config.web.tls ? "on" : "off"},
              {"basic_auth_users", std::to_string(config.web.basic_auth_users.size())},
              {"version", AEE_VERSION}});
  if (config.db_url_from_flag && aee::RedactSecrets(config.db_url) != config.db_url) {
    logger.Log(aee::LogLevel::kWarn,
               "--db.url holds a password that process listings show; use --db.url-file or AGENT_EXPORTER_DB_URL");
  }
  int signal_number = 0;
  // SIGHUP re-reads the workspace tokens and the web config; requests keep using
  // the previous ones until the new ones are swapped in (or forever, when a new
  // file is invalid or, for the web config, its change needs a restart).
  while (sigwait(&stop_signals, &signal_number) == 0 && signal_number == SIGHUP) {
    if (!exporter.ReloadWorkspaceTokens(&error)) {
      logger.Log(aee::LogLevel::kError, "reload failed, keeping the previous workspace tokens", {{"err", error}});
    }
    if (!exporter.ReloadWebConfig(&error)) {
      logger.Log(aee::LogLevel::kError, "reload failed, keeping the previous web config", {{"err", error}});
    }
  }
  logger.Log(aee::LogLevel::kInfo, "shutting down", {{"signal", std::to_string(signal_number)}});
  exporter.Stop();
  return 0;
}
