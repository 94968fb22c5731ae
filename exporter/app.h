#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "collectors/collector.h"
#include "core/change_listener.h"
#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"
#include "core/scheduler.h"
#include "exporter/config.h"
#include "exporter/live_hub.h"
#include "exporter/workspace_tokens.h"

namespace aee {

/// The whole exporter: collectors on their schedules behind the HTTP endpoints.
class Exporter {
 public:
  /// clock is wall time; steady_clock times cycles, backoffs, keepalives and budgets.
  Exporter(Config config, const Clock& clock, Logger& logger,
           const SteadyClock& steady_clock = RealSteadyClock::Instance());
  ~Exporter();

  /// Binds the HTTP port and starts the collector threads (start_collectors=false
  /// leaves them to RunOnce() calls, for tests).
  bool Start(std::string* error, bool start_collectors = true);
  void Stop();

  Scheduler& scheduler() { return *scheduler_; }
  /// The live view, or null with --api.enabled=false.
  LiveHub* live() { return live_.get(); }
  /// The first bound HTTP port.
  int port() const;
  /// The /metrics body (uncompressed); with workspaces, only what a token scoped
  /// to them may see.
  std::string MetricsText(const std::set<std::string, std::less<>>* workspaces = nullptr) const;
  /// Re-reads --web.workspace-tokens-file (SIGHUP); keeps the old tokens on error.
  bool ReloadWorkspaceTokens(std::string* error);
  /// Re-reads --web.config.file (SIGHUP): basic auth users and headers for the next
  /// requests, TLS files and settings for the next connections. Keeps the old
  /// configuration when the file is invalid or the change needs a restart.
  bool ReloadWebConfig(std::string* error);

 private:
  HttpResponse Metrics(const HttpRequest& req) const;
  /// The /metrics body, gzip-compressed or not.
  BodyPieces Exposition(const std::set<std::string, std::less<>>* workspaces, bool gzip) const;
  /// Resolves "Authorization: Bearer" to a token; *reject holds a 401 when the token
  /// is invalid, or when credential_required and the request has no credential at
  /// all (with a tokens file, only basic auth or a verified client certificate stand
  /// in for a token).
  bool Authorize(const HttpRequest& req, bool credential_required, std::shared_ptr<const WorkspaceToken>* token,
                 HttpResponse* reject) const;
  HttpResponse Landing() const;
  HttpResponse ApiWorkspaces(const WorkspaceToken* token) const;
  HttpResponse ApiRealtime(const HttpRequest& req, const WorkspaceToken* token) const;
  int AcceptLiveSubscriber(const HttpRequest& req, HttpResponse* reject, std::shared_ptr<void>* state);
  /// /readyz; with_errors=false leaves out the collectors' error text.
  HttpResponse Readiness(bool with_errors) const;

  Config config_;
  const Clock& clock_;
  const SteadyClock& steady_clock_;
  Logger& logger_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ChangeListener> listener_;  // with --db.notify-channel only
  std::atomic<double> replay_lag_s_{-1};  // the runs collector's last reading; <0: not a standby
  std::unique_ptr<WorkspaceTokenStore> tokens_;
  std::unique_ptr<LiveHub> live_;  // --api.enabled
  std::unique_ptr<HttpServer> http_;
};

/// Every family the exporter can expose: collectors' and its own.
std::vector<FamilySpec> AllFamilies();

}  // namespace aee
