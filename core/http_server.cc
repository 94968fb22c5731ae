#include "core/http_server.h"

#include <civetweb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cstring>
#include <mutex>

#include "core/civetweb_tls.h"

namespace aee {
namespace {

std::once_flag g_civetweb_init;

// Ends the connection of the request being served: civetweb hands handlers no
// descriptor, so it is found by the connection's two ends. Its worker's next read
// then sees end of stream and the worker moves on to the next connection.
bool ShutDownRequestConnection(const mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (info == nullptr) return false;
  const int fd = FindConnectionSocket(info->remote_addr, info->remote_port, info->server_port);
  return fd >= 0 && shutdown(fd, SHUT_RDWR) == 0;
}

}  // namespace

HttpServer::HttpServer(HttpOptions options, Logger& logger) : options_(std::move(options)), logger_(logger) {
  guard_ = std::make_unique<ConnectionGuard>(options_.max_connections_per_client, std::chrono::milliseconds(10),
                                             *options_.steady_clock);
  limiter_ = std::make_unique<RateLimiter>(options_.rate_limit, options_.rate_limit_burst,
                                           options_.clock != nullptr ? *options_.clock : system_clock_);
  web_state_ = std::make_shared<const WebState>(
      WebState{std::make_shared<const BasicAuthenticator>(options_.web.basic_auth_users), options_.web.headers});
  if (options_.web.tls) tls_ = std::make_unique<ReloadableTls>();
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(std::string path, Handler handler) { routes_[std::move(path)] = std::move(handler); }

bool HttpServer::ToCivetwebPorts(const std::string& listen_address, std::string* out) {
  size_t colon = listen_address.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = listen_address.substr(0, colon);
  std::string port = listen_address.substr(colon + 1);
  if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos) return false;
  if (host.empty() || host == "0.0.0.0") {
    *out = port;
  } else if (host == "localhost") {
    *out = "127.0.0.1:" + port;
  } else if (host.front() == '[') {
    // civetweb: "+port" is dual-stack IPv4+IPv6, "[addr]:port" one IPv6 address.
    *out = host == "[::]" ? "+" + port : host + ":" + port;
  } else {
    *out = host + ":" + port;
  }
  return true;
}

bool HttpServer::Start(std::string* error) {
  // mg_init_library(0), not MG_FEATURES_TLS: civetweb loads OpenSSL when the first
  // TLS port starts, where a failure is reported instead of crashing later.
  std::call_once(g_civetweb_init, [] { mg_init_library(0); });
  std::string ports;
  if (!ToCivetwebPorts(options_.listen_address, &ports)) {
    *error = "--web.listen-address: invalid address \"" + options_.listen_address + "\"";
    return false;
  }
  if (options_.web.tls) {
    if (!PrepareCivetwebTls(error)) return false;
    ports += "s";
  }
  const std::string threads = std::to_string(options_.threads);
  const std::string timeout = std::to_string(options_.request_timeout_ms);
  const std::string max_request = std::to_string(options_.max_request_size);
  // A backlog of accepted connections waiting for a worker; bounded so a flood
  // stays in the kernel's listen queue instead of in our memory.
  const std::string queue = std::to_string(options_.threads * 2);
  const std::string ws_timeout = std::to_string(options_.websocket.ping_interval_ms);
  const char* opts[] = {"listening_ports", ports.c_str(),
                        "num_threads", threads.c_str(),
                        "connection_queue", queue.c_str(),
                        "request_timeout_ms", timeout.c_str(),
                        "max_request_size", max_request.c_str(),
                        "enable_keep_alive", "yes",
                        "keep_alive_timeout_ms", timeout.c_str(),
                        "linger_timeout_ms", "1000",
                        // Headers and body go out in two writes: without this, a body
                        // shorter than one segment waits for the client's delayed ACK
                        // (40 ms on Linux) behind Nagle's algorithm.
                        "tcp_nodelay", "1",
                        // An idle WebSocket is pinged after this long (instead of
                        // closed), so proxies keep it open; one that stops answering
                        // is closed.
                        "websocket_timeout_ms", ws_timeout.c_str(),
                        "enable_websocket_ping_pong", "yes",
                        nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = &HttpServer::OnLog;
  callbacks.init_connection = &HttpServer::OnInitConnection;
  if (options_.web.tls) callbacks.init_ssl = &HttpServer::OnInitSsl;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = opts;
  char text[256] = {0};
  unsigned code = 0;
  mg_error_data err{};
  err.code = &code;
  err.text = text;
  err.text_buffer_size = sizeof text;
  ctx_ = mg_start2(&init, &err);
  if (ctx_ == nullptr) {
    *error = "cannot listen on " + options_.listen_address + ": " + (text[0] != 0 ? text : "civetweb failed to start");
    return false;
  }
  mg_set_request_handler(ctx_, "/", &HttpServer::OnRequest, this);
  RegisterWebSocketRoutes();
  guard_->Start(Ports());
  return true;
}

void HttpServer::Stop() {
  guard_->Stop();
  {
    std::lock_guard lock(peers_mu_);
    ws_watch_stop_ = true;
  }
  ws_watch_cv_.notify_all();
  if (ws_watch_.joinable()) ws_watch_.join();
  if (ctx_ != nullptr) {
    mg_stop(ctx_);
    ctx_ = nullptr;
  }
}

std::vector<int> HttpServer::Ports() const {
  std::vector<int> out;
  if (ctx_ == nullptr) return out;
  mg_server_port ports[8];
  int n = mg_get_server_ports(ctx_, 8, ports);
  for (int i = 0; i < n; ++i) out.push_back(ports[i].port);
  return out;
}

int HttpServer::OnLog(const mg_connection* conn, const char* message) {
  const mg_context* ctx = mg_get_context(conn);
  if (ctx == nullptr) return 0;  // let civetweb print messages it has no context for
  auto* self = static_cast<HttpServer*>(mg_get_user_data(ctx));
  if (self != nullptr) self->logger_.Log(LogLevel::kDebug, "http", {{"detail", message}});
  return 1;
}

// Sets up civetweb's SSL_CTX from tls_server_config; returning 1 tells civetweb
// the certificate is in place. Files were already checked by LoadWebConfig. Each
// connection then moves to the context of the latest configuration (Reload).
int HttpServer::OnInitSsl(void* ssl_ctx, void* user_data) {
  auto* self = static_cast<HttpServer*>(user_data);
  std::string error;
  if (!self->tls_->Load(*self->options_.web.tls, &error) ||
      !self->tls_->Attach(static_cast<SSL_CTX*>(ssl_ctx), &error)) {
    self->logger_.Log(LogLevel::kError, "TLS setup failed", {{"err", error}});
    return -1;
  }
  return 1;
}

// A worker has picked a connection up and is about to wait for its request: the
// guard checks soon whether its client address holds more than its share.
int HttpServer::OnInitConnection(const mg_connection* conn, void** /*conn_data*/) {
  if (auto* self = static_cast<HttpServer*>(mg_get_user_data(mg_get_context(conn))); self != nullptr) {
    self->guard_->Poke();
  }
  return 0;
}

HttpServer::ConnectionStats HttpServer::connection_stats() const {
  return {guard_->shut_down(), closed_after_429_.load()};
}

int HttpServer::OnRequest(mg_connection* conn, void* self) { return static_cast<HttpServer*>(self)->Serve(conn); }

HttpRequest HttpServer::ReadRequest(const mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest req;
  if (info == nullptr) return req;
  req.method = info->request_method != nullptr ? info->request_method : "";
  req.path = info->local_uri != nullptr ? info->local_uri : "";
  req.query = info->query_string != nullptr ? info->query_string : "";
  if (const char* ae = mg_get_header(conn, "Accept-Encoding"); ae != nullptr) req.accept_encoding = ae;
  if (const char* auth = mg_get_header(conn, "Authorization"); auth != nullptr) req.authorization = auth;
  req.remote_addr = info->remote_addr;
  return req;
}

void HttpServer::HandlePrefix(std::string prefix, Handler handler) {
  prefix_routes_[std::move(prefix)] = std::move(handler);
}

const HttpServer::Handler* HttpServer::FindRoute(const std::string& path) const {
  if (auto it = routes_.find(path); it != routes_.end()) return &it->second;
  for (const auto& [prefix, handler] : prefix_routes_) {  // longest first
    if (path.rfind(prefix, 0) == 0) return &handler;
  }
  return nullptr;
}

int HttpServer::Serve(mg_connection* conn) {
  const HttpRequest req = ReadRequest(conn);
  HttpResponse resp;
  const Handler* route = FindRoute(req.path);
  if (!Admit(req, &resp)) {
    // resp holds the 429 or 401
  } else if (route == nullptr) {
    resp.status = 404;
    resp.body = "404 page not found\n";
  } else if (req.method != "GET" && req.method != "HEAD") {
    resp.status = 405;
    resp.body = "method not allowed\n";
    resp.headers.emplace_back("Allow", "GET, HEAD");
  } else {
    try {
      resp = (*route)(req);
    } catch (const std::exception& e) {
      logger_.Log(LogLevel::kError, "handler failed", {{"path", req.path}, {"err", e.what()}});
      resp = HttpResponse{};
      resp.status = 500;
      resp.body = "internal error\n";
    }
  }
  const std::string length = std::to_string(resp.body.size() + resp.pieces.size());
  mg_response_header_start(conn, resp.status);
  mg_response_header_add(conn, "Content-Type", resp.content_type.c_str(), -1);
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
  const std::shared_ptr<const WebState> web = web_state();  // held: the loop reads its headers
  for (const auto& [k, v] : web->headers) mg_response_header_add(conn, k.c_str(), v.c_str(), -1);
  for (const auto& [k, v] : resp.headers) mg_response_header_add(conn, k.c_str(), v.c_str(), -1);
  if (resp.status == 429) mg_response_header_add(conn, "Connection", "close", -1);
  mg_response_header_send(conn);
  if (req.method != "HEAD") WriteBody(conn, resp);
  // A throttled client gives its worker back: civetweb would keep the connection
  // (and the worker) for its next request; the client reconnects when its
  // Retry-After has passed. (civetweb closes after a 401 itself.)
  if (resp.status == 429 && ShutDownRequestConnection(conn)) closed_after_429_.fetch_add(1);
  return static_cast<int>(resp.status);
}

namespace {

// Copies small pieces into one buffer per write (a body has a few hundred pieces,
// many shorter than a line) and hands large ones to the socket as they are, so a
// connection holds at most kWriteBuffer bytes of its body.
constexpr std::size_t kWriteBuffer = 64 * 1024;

bool WriteAll(mg_connection* conn, std::string_view bytes) {
  return bytes.empty() || mg_write(conn, bytes.data(), bytes.size()) == static_cast<int>(bytes.size());
}

}  // namespace

void HttpServer::WriteBody(mg_connection* conn, const HttpResponse& resp) {
  if (resp.pieces.pieces.empty()) {
    WriteAll(conn, resp.body);
    return;
  }
  std::string buffer;
  buffer.reserve(kWriteBuffer);
  buffer += resp.body;
  for (std::string_view piece : resp.pieces.pieces) {
    if (buffer.size() + piece.size() > kWriteBuffer) {
      if (!WriteAll(conn, buffer)) return;  // the client went away
      buffer.clear();
    }
    if (piece.size() >= kWriteBuffer) {
      if (!WriteAll(conn, piece)) return;
    } else {
      buffer += piece;
    }
  }
  WriteAll(conn, buffer);
}

// Rate limit first (a rejected client costs no bcrypt), then basic auth.
bool HttpServer::Admit(const HttpRequest& req, HttpResponse* reject) {
  int retry_after = 0;
  if (!limiter_->Allow(req.remote_addr, &retry_after)) {
    reject->status = 429;
    reject->body = "too many requests\n";
    reject->headers.emplace_back("Retry-After", std::to_string(retry_after));
    return false;
  }
  const std::shared_ptr<const WebState> web = web_state();
  if (!web->basic_auth->enabled()) return true;
  if (options_.allow_bearer && req.authorization.rfind("Bearer ", 0) == 0) return true;
  if (web->basic_auth->Check(req.authorization)) return true;
  reject->status = 401;
  reject->body = "Unauthorized\n";
  reject->headers.emplace_back("WWW-Authenticate", "Basic realm=\"agent_execution_exporter\"");
  return false;
}


bool HttpServer::Reload(const WebConfig& web, std::string* error) {
  if (web.tls.has_value() != options_.web.tls.has_value()) {
    *error = std::string("tls_server_config: turning TLS ") + (web.tls ? "on" : "off") + " needs a restart";
    return false;
  }
  // Built before anything is swapped (the dummy hash costs one bcrypt).
  auto state = std::make_shared<const WebState>(
      WebState{std::make_shared<const BasicAuthenticator>(web.basic_auth_users), web.headers});
  if (web.tls && !tls_->Load(*web.tls, error)) return false;
  std::lock_guard<std::mutex> lock(web_mu_);
  web_state_ = std::move(state);
  return true;
}

std::shared_ptr<const HttpServer::WebState> HttpServer::web_state() const {
  std::lock_guard<std::mutex> lock(web_mu_);
  return web_state_;
}

}  // namespace aee
