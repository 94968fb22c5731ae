#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "exporter/log.h"

struct mg_context;
struct mg_connection;

namespace aee {

struct HttpRequest {
  std::string method;
  std::string path;
  std::string accept_encoding;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct HttpOptions {
  std::string listen_address = ":9477";
  int threads = 8;
  int request_timeout_ms = 10000;
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
  int Serve(mg_connection* conn);

  HttpOptions options_;
  Logger& logger_;
  std::map<std::string, Handler> routes_;
  mg_context* ctx_ = nullptr;
};

}  // namespace aee
