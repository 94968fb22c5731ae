#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "exporter/body_pieces.h"
#include "exporter/clock.h"
#include "exporter/log.h"
#include "exporter/rate_limiter.h"
#include "exporter/web_config.h"

struct mg_context;
struct mg_connection;

namespace aee {

struct HttpRequest {
  std::string method;
  std::string path;
  std::string accept_encoding;
  std::string authorization;  // the Authorization header ("Bearer …" reaches handlers only when allowed)
  std::string remote_addr;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  /// Sent after body: large shared bodies (/metrics) go out without being joined.
  BodyPieces pieces;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpOptions {
  std::string listen_address = ":9477";
  /// Connections served at once; idle or slow clients hold one each until the
  /// request timeout (see docs/security.md, "Slow clients").
  int threads = 64;
  /// Time to receive a whole request, and the idle time allowed between two
  /// requests of a keep-alive connection.
  int request_timeout_ms = 5000;
  /// Largest request head (request line and headers) accepted, in bytes.
  int max_request_size = 16384;
  /// TLS, basic auth and extra headers (--web.config.file).
  WebConfig web;
  /// Requests per second and burst per client address; rate <= 0 disables.
  double rate_limit = 0;
  int rate_limit_burst = 1;
  /// Let "Authorization: Bearer" requests past basic auth: the handler must check
  /// the token (workspace tokens).
  bool allow_bearer = false;
  const Clock* clock = nullptr;  // for the rate limiter; SystemClock when null
};

/// The exporter's HTTP front (civetweb): exact-path routes, GET/HEAD only.
class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  HttpServer(HttpOptions options, Logger& logger);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Routes requests for exactly path to handler. Call before Start().
  void Handle(std::string path, Handler handler);
  /// Binds and starts serving; false with *error naming the address on failure.
  bool Start(std::string* error);
  void Stop();
  /// The bound TCP ports (useful with port 0).
  std::vector<int> Ports() const;

  /// Converts a Prometheus-style listen address to civetweb's listening_ports.
  static bool ToCivetwebPorts(const std::string& listen_address, std::string* out);

 private:
  static int OnRequest(mg_connection* conn, void* self);
  static int OnLog(const mg_connection* conn, const char* message);
  static int OnInitSsl(void* ssl_ctx, void* self);
  int Serve(mg_connection* conn);
  static void WriteBody(mg_connection* conn, const HttpResponse& resp);
  bool Admit(const HttpRequest& req, HttpResponse* reject);

  HttpOptions options_;
  Logger& logger_;
  std::map<std::string, Handler> routes_;
  mg_context* ctx_ = nullptr;
  SystemClock system_clock_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<BasicAuthenticator> basic_auth_;
};

}  // namespace aee
