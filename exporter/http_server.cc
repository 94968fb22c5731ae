#include "exporter/http_server.h"

#include <civetweb.h>

#include <cstring>
#include <mutex>

namespace aee {
namespace {

std::once_flag g_civetweb_init;

}  // namespace

HttpServer::HttpServer(HttpOptions options, Logger& logger) : options_(std::move(options)), logger_(logger) {}

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
  std::call_once(g_civetweb_init, [] { mg_init_library(0); });
  std::string ports;
  if (!ToCivetwebPorts(options_.listen_address, &ports)) {
    *error = "--web.listen-address: invalid address \"" + options_.listen_address + "\"";
    return false;
  }
  const std::string threads = std::to_string(options_.threads);
  const std::string timeout = std::to_string(options_.request_timeout_ms);
  const char* opts[] = {"listening_ports", ports.c_str(),
                        "num_threads", threads.c_str(),
                        "request_timeout_ms", timeout.c_str(),
                        "enable_keep_alive", "yes",
                        "keep_alive_timeout_ms", "30000",
                        nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = &HttpServer::OnLog;
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
  return true;
}

void HttpServer::Stop() {
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

int HttpServer::OnRequest(mg_connection* conn, void* self) { return static_cast<HttpServer*>(self)->Serve(conn); }

int HttpServer::Serve(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest req;
  req.method = info->request_method != nullptr ? info->request_method : "";
  req.path = info->local_uri != nullptr ? info->local_uri : "";
  if (const char* ae = mg_get_header(conn, "Accept-Encoding"); ae != nullptr) req.accept_encoding = ae;

  HttpResponse resp;
  auto it = routes_.find(req.path);
  if (it == routes_.end()) {
    resp.status = 404;
    resp.body = "404 page not found\n";
  } else if (req.method != "GET" && req.method != "HEAD") {
    resp.status = 405;
    resp.body = "method not allowed\n";
    resp.headers.emplace_back("Allow", "GET, HEAD");
  } else {
    try {
      resp = it->second(req);
    } catch (const std::exception& e) {
      logger_.Log(LogLevel::kError, "handler failed", {{"path", req.path}, {"err", e.what()}});
      resp = HttpResponse{};
      resp.status = 500;
      resp.body = "internal error\n";
    }
  }
  const std::string length = std::to_string(resp.body.size());
  mg_response_header_start(conn, resp.status);
  mg_response_header_add(conn, "Content-Type", resp.content_type.c_str(), -1);
  mg_response_header_add(conn, "Content-Length", length.c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  mg_response_header_add(conn, "X-Content-Type-Options", "nosniff", -1);
  for (const auto& [k, v] : resp.headers) mg_response_header_add(conn, k.c_str(), v.c_str(), -1);
  mg_response_header_send(conn);
  if (req.method != "HEAD" && !resp.body.empty()) mg_write(conn, resp.body.data(), resp.body.size());
  return static_cast<int>(resp.status);
}

}  // namespace aee
