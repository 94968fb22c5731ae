#include "exporter/app.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "collectors/registry.h"
#include "collectors/scope.h"
#include "core/exposition.h"
#include "core/process_metrics.h"
#include "exporter/live_page.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kBuildInfo{"agent_exporter_build_info", MetricType::Gauge,
                                "Version and git revision of the exporter; value is always 1.",
                                {"version", "revision"}};
constexpr FamilySpec kShardInfo{"agent_exporter_shard_info", MetricType::Gauge,
                                "This exporter's share of the workspaces (--shard.index of --shard.count); value is "
                                "always 1.",
                                {"index", "count"}};
constexpr FamilySpec kHttpClosed{"agent_exporter_http_connections_closed_total", MetricType::Counter,
                                 "Connections the exporter closed to keep workers free: reason per_client_cap "
                                 "(over --web.max-connections-per-client) or after_429 (a rate-limited request).",
                                 {"reason"}};
constexpr FamilySpec kLiveSubscribers{"agent_exporter_live_subscribers", MetricType::Gauge,
                                      "WebSocket subscribers of the live view now (--api.max-clients at most).", {}};
constexpr FamilySpec kLiveMessages{"agent_exporter_live_messages_total", MetricType::Counter,
                                   "Messages (execution_update and heartbeat) sent to live view subscribers.", {}};
constexpr FamilySpec kLiveDropped{"agent_exporter_live_subscribers_dropped_total", MetricType::Counter,
                                  "Live view subscribers closed because they could not take messages for 30 s.", {}};

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::vector<FamilySpec> AllFamilies() {
  std::vector<FamilySpec> out;
  for (const auto& e : CollectorTable()) {
    for (const auto& f : e.families()) out.push_back(f);
  }
  for (const auto& f : Scheduler::Families()) out.push_back(f);
  for (const auto& f : ScopedCollector::Families()) out.push_back(f);
  for (const auto& f : ChangeListener::Families()) out.push_back(f);
  for (const auto& f : ProcessFamilies()) out.push_back(f);
  out.push_back(kBuildInfo);
  out.push_back(kShardInfo);
  out.push_back(kHttpClosed);
  for (const auto& f : {kLiveSubscribers, kLiveMessages, kLiveDropped}) out.push_back(f);
  return out;
}

Exporter::Exporter(Config config, const Clock& clock, Logger& logger, const SteadyClock& steady_clock)
    : config_(std::move(config)), clock_(clock), steady_clock_(steady_clock), logger_(logger) {
  if (config_.api_enabled) live_ = std::make_unique<LiveHub>(config_.api, clock_, logger_, steady_clock_);
  std::vector<ScheduledCollector> scheduled;
  // The rows the triggers announce go to the realtime collector, which then reads
  // only those (collectors/realtime_collector.h); set before the collectors exist.
  std::shared_ptr<ChangeFeed> feed;
  if (!config_.db_notify_channel.empty() && (!config_.db_notify_url.empty() || config_.db_pooler != DbPooler::kTransaction)) {
    feed = std::make_shared<ChangeFeed>(config_.db_notify_channel, config_.shard.count, config_.shard.index);
  }
  // Which workspaces this exporter exposes: its shard (read in SQL by the collectors,
  // enforced for every family by ScopedCollector) and the include/exclude lists.
  auto filter = std::make_shared<const WorkspaceFilter>(config_.collector_options.workspaces_include, config_.collector_options.workspaces_exclude);
  auto directory = std::make_shared<WorkspaceDirectory>(QuoteIdentifier(config_.db_schema), std::chrono::seconds(30));
  for (const auto& entry : CollectorTable()) {
    const CollectorSchedule& schedule = config_.collectors.at(std::string(entry.name));
    if (!schedule.enabled) continue;
    // The database collector's figures are the platform's, not a workspace's: one
    // shard reports them, so shards neither repeat them nor multiply their queries.
    if (entry.name == "database" && config_.shard.index != 0) continue;
    CollectorContext ctx;
    ctx.quoted_schema = QuoteIdentifier(config_.db_schema);
    ctx.clock = &clock_;
    ctx.steady_clock = &steady_clock_;
    ctx.timeout = schedule.timeout;
    ctx.logger = &logger_;
    ctx.shard = config_.shard;
    ctx.change_feed = feed;
    if (entry.name == "runs") ctx.on_replay_lag = [this](double lag) { replay_lag_s_.store(lag); };
    if (live_) {
      ctx.on_live_view = [this, filter](std::shared_ptr<const LiveView> v) {
        live_->PublishView(ScopeLiveView(std::move(v), *filter));
      };
      ctx.on_pool_loads = [this](std::shared_ptr<const PoolLoads> p) { live_->PublishPools(std::move(p)); };
    }
    ScheduledCollector sc;
    sc.name = std::string(entry.name);
    sc.schedule = schedule;
    sc.collector = std::make_unique<ScopedCollector>(sc.name, entry.create(ctx, config_.collector_options), config_.shard, filter,
                                                     directory, &clock_);
    sc.db = std::make_unique<DbSession>(config_.db_url, "agent_execution_exporter/" + sc.name, config_.db_pooler);
    scheduled.push_back(std::move(sc));
  }
  scheduler_ = std::make_unique<Scheduler>(std::move(scheduled), clock_, logger_, config_.db_notify_coalesce,
                                           steady_clock_);
  // LISTEN needs a session of its own: through a transaction pooler it would be
  // registered on a server connection other clients then get. It goes to
  // --db.notify-url (a direct connection to the primary: NOTIFY is not delivered on
  // a standby), else to --db.url unless that goes through a transaction pooler.
  const std::string& listen_url = config_.db_notify_url.empty() ? config_.db_url : config_.db_notify_url;
  const bool can_listen = !config_.db_notify_url.empty() || config_.db_pooler != DbPooler::kTransaction;
  if (!config_.db_notify_channel.empty() && !can_listen) {
    logger_.Log(LogLevel::kWarn,
                "--db.notify-channel needs --db.notify-url with --db.pooler=transaction (LISTEN does not survive "
                "a transaction pooler); polling only",
                {{"channel", config_.db_notify_channel}});
  }
  if (!config_.db_notify_channel.empty() && can_listen) {
    // schema/notify.sql's triggers name the table that changed; each collector says
    // which tables move its figures (an empty payload: anything changed).
    listener_ = std::make_unique<ChangeListener>(
        listen_url, config_.db_notify_channel,
        [this, feed](std::string_view payload) {
          // "" = just connected; "table" or "table:workspace/id,...". Another
          // shard's rows wake nothing here.
          if (payload.empty()) {
            feed->Connected();
          } else if (!feed->Notify(payload)) {
            return;
          }
          const std::string_view table = payload.substr(0, payload.find(':'));
          for (const auto& entry : CollectorTable()) {
            const auto& tables = entry.woken_by;
            if (!tables.empty() && (table.empty() || std::find(tables.begin(), tables.end(), table) != tables.end())) {
              scheduler_->Wake(entry.name);
            }
          }
        },
        logger_, steady_clock_);
    listener_->SetOnDown([feed] { feed->Disconnected(); });
  }
  HttpOptions http;
  http.listen_address = config_.listen_address;
  http.threads = config_.max_connections;
  http.max_connections_per_client = config_.max_connections_per_client;
  http.request_timeout_ms = static_cast<int>(config_.request_timeout.count());
  http.web = config_.web;
  http.rate_limit = config_.rate_limit;
  http.rate_limit_burst = config_.rate_limit_burst;
  http.clock = &clock_;
  http.steady_clock = &steady_clock_;
  // Only per-workspace views read the snapshots; every other scrape joins the
  // rendered text.
  scheduler_->KeepSnapshots(!config_.workspace_tokens_file.empty());
  if (!config_.workspace_tokens_file.empty()) {
    tokens_ = std::make_unique<WorkspaceTokenStore>(config_.workspace_tokens_file);
    std::string error;
    if (!tokens_->Load(&error)) logger_.Log(LogLevel::kError, "cannot load workspace tokens", {{"err", error}});
    http.allow_bearer = true;
  }
  http_ = std::make_unique<HttpServer>(http, logger_);
  // Every route checks a bearer token first: an invalid one is a 401 everywhere.
  // With a tokens file, only /healthz (which says nothing but "OK", for liveness
  // probes) answers a request that carries no credential at all.
  // Handlers get the caller's token: null for the operator's view (no tokens file,
  // basic auth, a client certificate), else a token that may be scoped.
  using Inner = std::function<HttpResponse(const HttpRequest&, const WorkspaceToken*)>;
  auto guarded = [this](bool credential_required, Inner inner) {
    return [this, credential_required, inner = std::move(inner)](const HttpRequest& r) {
      std::shared_ptr<const WorkspaceToken> token;
      HttpResponse reject;
      if (!Authorize(r, credential_required, &token, &reject)) return reject;
      return inner(r, token.get());
    };
  };
  http_->Handle(config_.telemetry_path, [this](const HttpRequest& r) { return Metrics(r); });
  http_->Handle("/", guarded(true, [this](const HttpRequest&, const WorkspaceToken*) { return Landing(); }));
  http_->Handle("/healthz", guarded(false, [](const HttpRequest&, const WorkspaceToken*) {
    HttpResponse r;
    r.body = "OK\n";
    return r;
  }));
  http_->Handle("/readyz", guarded(true, [this](const HttpRequest&, const WorkspaceToken* token) {
    // Error text can hold SQL fragments and other tenants' data: a scoped token
    // gets the states only.
    return Readiness(/*with_errors=*/token == nullptr || token->all_workspaces);
  }));
  if (live_) {
    // The live view (docs/api.md). The page holds no data: it loads without a
    // credential and asks for a token when the API answers 401.
    http_->Handle("/live", guarded(false, [](const HttpRequest&, const WorkspaceToken*) { return LivePage(); }));
    http_->Handle("/api/v1/workspaces", guarded(true, [this](const HttpRequest&, const WorkspaceToken* token) {
      return ApiWorkspaces(token);
    }));
    http_->HandlePrefix("/api/v1/workspaces/", guarded(true, [this](const HttpRequest& r, const WorkspaceToken* token) {
      return ApiRealtime(r, token);
    }));
    WebSocketRoute ws;
    ws.accept = [this](const HttpRequest& r, HttpResponse* reject, std::shared_ptr<void>* state) {
      return AcceptLiveSubscriber(r, reject, state);
    };
    ws.ready = [this](const std::shared_ptr<WebSocketPeer>& peer) { live_->Ready(peer); };
    ws.closed = [this](const std::shared_ptr<WebSocketPeer>& peer) { live_->Closed(peer); };
    http_->HandleWebSocket("/api/v1/workspaces/", std::move(ws));
  }
}

Exporter::~Exporter() { Stop(); }

bool Exporter::Start(std::string* error, bool start_collectors) {
  if (live_) live_->Start();
  if (!http_->Start(error)) return false;
  if (start_collectors) {
    scheduler_->Start();
    if (listener_) listener_->Start();
  }
  return true;
}

void Exporter::Stop() {
  if (http_) http_->Stop();
  if (live_) live_->Stop();
  if (listener_) listener_->Stop();
  if (scheduler_) scheduler_->Stop();
}

int Exporter::port() const {
  auto ports = http_->Ports();
  return ports.empty() ? 0 : ports.front();
}

std::string Exporter::MetricsText(const std::set<std::string, std::less<>>* workspaces) const {
  return Exposition(workspaces, /*gzip=*/false).Join();
}

BodyPieces Exporter::Exposition(const std::set<std::string, std::less<>>* workspaces, bool gzip) const {
  // Self-telemetry changes with every scrape; the collectors' figures only when a
  // cycle publishes, and were rendered then.
  std::vector<prometheus::MetricFamily> families =
      workspaces != nullptr ? scheduler_->Gather() : scheduler_->GatherSelf();
  if (listener_) {
    for (auto& f : listener_->Gather()) families.push_back(std::move(f));
  }
  for (auto& f : ProcessMetrics()) families.push_back(std::move(f));
  FamilyBuilder build(kBuildInfo);
  build.Add({AEE_VERSION, AEE_REVISION}, 1);
  families.push_back(build.Take());
  FamilyBuilder shard(kShardInfo);
  shard.Add({std::to_string(config_.shard.index), std::to_string(config_.shard.count)}, 1);
  families.push_back(shard.Take());
  const HttpServer::ConnectionStats closed = http_->connection_stats();
  FamilyBuilder closed_f(kHttpClosed);
  closed_f.Add({"per_client_cap"}, static_cast<double>(closed.refused_per_client));
  closed_f.Add({"after_429"}, static_cast<double>(closed.closed_after_429));
  families.push_back(closed_f.Take());
  if (live_) {
    FamilyBuilder subscribers(kLiveSubscribers), messages(kLiveMessages), dropped(kLiveDropped);
    subscribers.Add({}, static_cast<double>(live_->subscribers()));
    messages.Add({}, static_cast<double>(live_->messages_sent()));
    dropped.Add({}, static_cast<double>(live_->subscribers_dropped()));
    for (FamilyBuilder* b : {&subscribers, &messages, &dropped}) families.push_back(b->Take());
  }
  if (workspaces != nullptr) {
    // Rendered per request: a token's view is its own.
    std::string text = SerializeText(FilterForWorkspaces(MergeFamilies(std::move(families)), *workspaces));
    BodyPieces body;
    body.AddOwned(gzip ? GzipCompress(text) : std::move(text));
    return body;
  }
  RenderedSources sources{std::make_shared<const RenderedFamilies>(RenderFamilies(std::move(families)))};
  for (auto& r : scheduler_->Rendered()) sources.push_back(std::move(r));
  return gzip ? JoinRenderedGzip(sources) : JoinRendered(sources);
}

bool Exporter::ReloadWorkspaceTokens(std::string* error) {
  if (!tokens_) return true;
  if (!tokens_->Load(error)) return false;
  logger_.Log(LogLevel::kInfo, "workspace tokens loaded", {{"tokens", std::to_string(tokens_->size())}});
  return true;
}

bool Exporter::ReloadWebConfig(std::string* error) {
  if (config_.web_config_file.empty()) return true;
  WebConfig web;
  std::string why;
  if (!LoadWebConfig(config_.web_config_file, &web, &why)) {
    *error = "--web.config.file: " + why;
    return false;
  }
  // Authorize() lets a request without a token through when the HTTP server has
  // authenticated it (basic auth or a required client certificate), judged from
  // the start-up file; a reload must not turn that off under it.
  auto server_authenticates = [](const WebConfig& w) {
    return !w.basic_auth_users.empty() || (w.tls && w.tls->client_auth_type == "RequireAndVerifyClientCert");
  };
  if (tokens_ && server_authenticates(web) != server_authenticates(config_.web)) {
    *error =
        "--web.config.file: with --web.workspace-tokens-file, turning basic auth or required client "
        "certificates on or off needs a restart";
    return false;
  }
  if (!http_->Reload(web, &why)) {
    *error = "--web.config.file: " + why;
    return false;
  }
  logger_.Log(LogLevel::kInfo, "web config loaded",
              {{"file", config_.web_config_file},
               {"tls", web.tls ? "on" : "off"},
               {"basic_auth_users", std::to_string(web.basic_auth_users.size())},
               {"headers", std::to_string(web.headers.size())}});
  return true;
}

bool Exporter::Authorize(const HttpRequest& req, bool credential_required,
                         std::shared_ptr<const WorkspaceToken>* token, HttpResponse* reject) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (!tokens_) return true;
  auto unauthorized = [&](std::string body) {
    reject->status = 401;
    reject->body = std::move(body);
    reject->headers.emplace_back("WWW-Authenticate", "Bearer realm=\"agent_execution_exporter\"");
    return false;
  };
  if (req.authorization.rfind(kBearer, 0) != 0) {
    // The HTTP server has already checked basic auth and a required client
    // certificate; without either, a request with no token sees nothing.
    const bool server_authenticated =
        !config_.web.basic_auth_users.empty() ||
        (config_.web.tls && config_.web.tls->client_auth_type == "RequireAndVerifyClientCert");
    if (!credential_required || server_authenticated) return true;
    return unauthorized("a bearer token is required (--web.workspace-tokens-file is set)\n");
  }
  *token = tokens_->Find(std::string_view(req.authorization).substr(kBearer.size()));
  if (*token) return true;
  logger_.Log(LogLevel::kWarn, "rejected bearer token", {{"remote", req.remote_addr}});
  return unauthorized("invalid token\n");
}

HttpResponse Exporter::Metrics(const HttpRequest& req) const {
  HttpResponse r;
  std::shared_ptr<const WorkspaceToken> token;
  if (!Authorize(req, /*credential_required=*/true, &token, &r)) return r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  const bool gzip = AcceptsGzip(req.accept_encoding);
  r.pieces = Exposition(token && !token->all_workspaces ? &token->workspaces : nullptr, gzip);
  r.headers.emplace_back("Vary", "Accept-Encoding");
  if (gzip) r.headers.emplace_back("Content-Encoding", "gzip");
  return r;
}

HttpResponse Exporter::Readiness(bool with_errors) const {
  HttpResponse r;
  r.content_type = "application/json";
  bool ready = scheduler_->Ready(&r.body, with_errors);
  // A hot standby that lags serves figures that are true but old: with
  // --db.max-replay-lag the exporter leaves the load balancer's rotation (another
  // replica, on a standby that keeps up, takes over) until it catches up.
  const double lag = replay_lag_s_.load();
  if (lag >= 0) {
    const double max_lag = std::chrono::duration<double>(config_.db_max_replay_lag).count();
    const bool lagging = max_lag > 0 && lag > max_lag;
    nlohmann::ordered_json root = nlohmann::ordered_json::parse(r.body);
    nlohmann::ordered_json replica;
    replica["state"] = lagging ? "lagging" : "up";
    replica["replay_lag_seconds"] = lag;
    if (max_lag > 0) replica["max_replay_lag_seconds"] = max_lag;
    root["replica"] = std::move(replica);
    if (lagging) {
      ready = false;
      root["status"] = "not ready";
    }
    r.body = root.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  r.status = ready ? 200 : 503;
  r.body += "\n";
  return r;
}

HttpResponse Exporter::Landing() const {
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  std::string path = HtmlEscape(config_.telemetry_path);
  r.body = "<!DOCTYPE html>\n<html><head><title>Agent Execution Exporter</title></head><body>\n"
           "<h1>Agent Execution Exporter</h1>\n<p>Version " AEE_VERSION " (" AEE_REVISION ")</p>\n<ul>\n"
           "<li><a href=\"" + path + "\">Metrics</a></li>\n"
           "<li><a href=\"/healthz\">Health</a></li>\n"
           "<li><a href=\"/readyz\">Readiness</a></li>\n" +
           std::string(live_ ? "<li><a href=\"/live\">Live executions</a></li>\n" : "") +
           "</ul>\n<h2>Collectors</h2>\n<ul>\n";
  for (const auto& s : scheduler_->Status()) {
    r.body += "<li>" + HtmlEscape(s.name) + ": " + (s.up ? "up" : "down") + "</li>\n";
  }
  r.body += "</ul>\n</body></html>\n";
  return r;
}

namespace {

// Which workspaces a token sees on the live view, and whether it sees the shared
// worker pool (platform-wide load): operators do, scoped tokens do not.
LiveScope ScopeOf(const WorkspaceToken* token) {
  if (token == nullptr || token->all_workspaces) return LiveScope{};
  return LiveScope{false, &token->workspaces};
}

HttpResponse Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  r.body += "\n";
  return r;
}

HttpResponse JsonError(int status, std::string_view message) {
  return Json(status, nlohmann::json{{"error", message}}.dump());
}

// "/api/v1/workspaces/{id}/realtime[/ws]" -> id; "" when the path is not one.
std::string WorkspaceOfPath(std::string_view path, std::string_view suffix) {
  constexpr std::string_view kPrefix = "/api/v1/workspaces/";
  if (path.rfind(kPrefix, 0) != 0 || path.size() <= kPrefix.size() + suffix.size()) return "";
  if (path.substr(path.size() - suffix.size()) != suffix) return "";
  std::string_view id = path.substr(kPrefix.size(), path.size() - kPrefix.size() - suffix.size());
  if (id.find('/') != std::string_view::npos) return "";
  return std::string(id);
}

}  // namespace

HttpResponse Exporter::ApiWorkspaces(const WorkspaceToken* token) const {
  return Json(200, live_->WorkspacesJson(ScopeOf(token)));
}

// Unknown and forbidden workspaces get the same 404: a token cannot probe for
// other tenants' ids.
HttpResponse Exporter::ApiRealtime(const HttpRequest& req, const WorkspaceToken* token) const {
  const std::string id = WorkspaceOfPath(req.path, "/realtime");
  const LiveScope scope = ScopeOf(token);
  if (id.empty() || !scope.Sees(id)) return JsonError(404, "no such workspace");
  if (!live_->has_view()) {
    HttpResponse r = JsonError(503, "the realtime collector has not sampled yet");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  std::string body;
  if (!live_->RealtimeJson(id, scope.all, &body)) return JsonError(404, "no such workspace");
  return Json(200, std::move(body));
}

int Exporter::AcceptLiveSubscriber(const HttpRequest& req, HttpResponse* reject, std::shared_ptr<void>* state) {
  std::shared_ptr<const WorkspaceToken> token;
  if (!Authorize(req, /*credential_required=*/true, &token, reject)) return reject->status;
  const std::string id = WorkspaceOfPath(req.path, "/realtime/ws");
  const LiveScope scope = ScopeOf(token.get());
  std::string unused;
  if (id.empty() || !scope.Sees(id) || (live_->has_view() && !live_->RealtimeJson(id, scope.all, &unused))) {
    *reject = JsonError(404, "no such workspace");
    return 404;
  }
  return live_->Subscribe(id, scope.all, reject, state);
}

}  // namespace aee
