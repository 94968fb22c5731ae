#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/body_pieces.h"
#include "core/civetweb_tls.h"
#include "core/clock.h"
#include "core/connection_guard.h"
#include "core/log.h"
#include "core/rate_limiter.h"
#include "core/web_config.h"

struct mg_context;
struct mg_connection;

namespace aee {

struct HttpRequest {
  std::string method;
  std::string path;
  std::string query;  // after '?', undecoded
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

/// One open WebSocket connection, as handlers see it. Send() may be called from any
/// thread until the route's closed handler has run for it.
class WebSocketPeer {
 public:
  /// Sends one text message when the connection can take it without blocking: the
  /// kernel's send buffer has room for all of it (or is empty). False when the
  /// client is not keeping up (nothing was sent; send the latest state later) or
  /// the connection is gone.
  bool Send(std::string_view text);
  /// Closes the connection (a close frame, then the socket is shut down).
  void Close();
  bool open() const;
  const std::string& remote_addr() const { return remote_addr_; }
  /// What the route's accept handler attached (the subscription).
  const std::shared_ptr<void>& state() const { return state_; }

 private:
  friend class HttpServer;
  mutable std::mutex mu_;
  mg_connection* conn_ = nullptr;  // null once closed
  int fd_ = -1;
  std::string remote_addr_;
  std::uint64_t received_at_upgrade_ = 0;  // TCP bytes received when the handshake began
  SteadyClock::time_point upgraded_at_;
  std::shared_ptr<void> state_;
};

/// Handlers of a WebSocket route (HttpServer::HandleWebSocket).
struct WebSocketRoute {
  /// Before the handshake, after rate limit and basic auth. Returns 0 to accept
  /// (optionally attaching *state to the peer) or an HTTP status to refuse with,
  /// *reject holding the body.
  std::function<int(const HttpRequest&, HttpResponse* reject, std::shared_ptr<void>* state)> accept;
  /// The handshake is done; the peer takes messages from now on.
  std::function<void(const std::shared_ptr<WebSocketPeer>&)> ready;
  /// The connection is closing; the peer takes no more messages.
  std::function<void(const std::shared_ptr<WebSocketPeer>&)> closed;
};

/// WebSocket settings of the server.
struct WebSocketOptions {
  /// Largest frame a client may send (clients of the live view send none but
  /// pings, pongs and close); a larger or unexpected frame closes the connection.
  std::size_t max_frame = 1024;
  /// Idle time after which the server pings the client (proxies keep the
  /// connection open); a client that does not answer is closed.
  int ping_interval_ms = 10000;
  /// Subprotocol the server speaks (echoed in the handshake).
  std::string subprotocol = "aee.v1";
  /// Bytes a client may send after the upgrade: receive_allowance plus
  /// receive_per_second for each second the connection has been open. civetweb
  /// holds a whole incoming frame in memory before any handler sees it (frames
  /// announced up to 2 GiB), so a watchdog measures what each connection received
  /// (TCP_INFO) every watch_interval and ends one over its allowance.
  std::uint64_t receive_allowance = 16 * 1024;
  std::uint64_t receive_per_second = 1024;
  int watch_interval_ms = 10;
};

struct HttpOptions {
  std::string listen_address = ":9477";
  /// Connections served at once; idle or slow clients hold one each until the
  /// request timeout (see docs/security.md, "Slow clients").
  int threads = 64;
  /// Connections one client address may hold at once (each holds a worker thread
  /// while open); further ones are closed as soon as a worker picks them up, so one
  /// address cannot take every worker. 0 = no cap.
  int max_connections_per_client = 8;
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
  WebSocketOptions websocket;
  /// Let "Authorization: Bearer" requests past basic auth: the handler must check
  /// the token (workspace tokens).
  bool allow_bearer = false;
  const Clock* clock = nullptr;  // for the rate limiter; SystemClock when null
  /// Times the WebSocket receive allowance and its watch.
  const SteadyClock* steady_clock = &RealSteadyClock::Instance();
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
  /// Routes requests whose path starts with prefix (and has no exact route) to
  /// handler; the longest prefix wins. Call before Start().
  void HandlePrefix(std::string prefix, Handler handler);
  /// Routes WebSocket upgrades whose path starts with prefix. A bearer token may
  /// come as the subprotocol "bearer.<token>" (browsers cannot set headers on a
  /// WebSocket): it is then treated as "Authorization: Bearer <token>". Call before
  /// Start().
  void HandleWebSocket(std::string prefix, WebSocketRoute route);
  /// Binds and starts serving; false with *error naming the address on failure.
  bool Start(std::string* error);
  void Stop();
  /// The bound TCP ports (useful with port 0).
  std::vector<int> Ports() const;
  /// Swaps in a re-read --web.config.file (SIGHUP), after Start(): basic auth users
  /// and extra headers for the next requests; certificate, key, client CA and TLS
  /// settings for the next connections. Turning TLS on or off needs a restart: that,
  /// or TLS files that do not load, fails with *error and keeps the old configuration.
  bool Reload(const WebConfig& web, std::string* error);

  /// Connections refused for going over max_connections_per_client, and
  /// connections closed after a rejected (429) request, since start.
  struct ConnectionStats {
    std::uint64_t refused_per_client = 0;
    std::uint64_t closed_after_429 = 0;
  };
  ConnectionStats connection_stats() const;
  /// WebSocket connections closed for sending more than their allowance.
  std::uint64_t websockets_over_allowance() const { return ws_over_allowance_.load(); }

  /// Converts a Prometheus-style listen address to civetweb's listening_ports.
  static bool ToCivetwebPorts(const std::string& listen_address, std::string* out);

 private:
  static int OnRequest(mg_connection* conn, void* self);
  static int OnLog(const mg_connection* conn, const char* message);
  static int OnInitSsl(void* ssl_ctx, void* self);
  static int OnInitConnection(const mg_connection* conn, void** conn_data);
  static int OnWebSocketConnect(const mg_connection* conn, void* self);
  static void OnWebSocketReady(mg_connection* conn, void* self);
  static int OnWebSocketData(mg_connection* conn, int bits, char* data, size_t len, void* self);
  static void OnWebSocketClose(const mg_connection* conn, void* self);
  static HttpRequest ReadRequest(const mg_connection* conn);
  const Handler* FindRoute(const std::string& path) const;
  void RegisterWebSocketRoutes();
  static void SendError(mg_connection* conn, const HttpResponse& resp);
  int Serve(mg_connection* conn);
  static void WriteBody(mg_connection* conn, const HttpResponse& resp);
  bool Admit(const HttpRequest& req, HttpResponse* reject);

  HttpOptions options_;
  Logger& logger_;
  std::map<std::string, Handler> routes_;
  std::map<std::string, Handler, std::greater<>> prefix_routes_;  // longest first
  std::vector<std::pair<std::string, WebSocketRoute>> websocket_routes_;
  std::mutex peers_mu_;
  std::map<const mg_connection*, std::pair<std::shared_ptr<WebSocketPeer>, const WebSocketRoute*>> peers_;
  std::vector<const char*> subprotocol_list_;
  std::shared_ptr<void> subprotocols_;  // civetweb's mg_websocket_subprotocols, kept alive
  void WatchWebSockets();
  std::thread ws_watch_;
  std::condition_variable ws_watch_cv_;
  bool ws_watch_stop_ = false;  // under peers_mu_
  std::atomic<std::uint64_t> ws_over_allowance_{0};
  mg_context* ctx_ = nullptr;
  SystemClock system_clock_;
  std::unique_ptr<RateLimiter> limiter_;
  /// What a reload of the web config replaces; a request reads one snapshot.
  struct WebState {
    std::shared_ptr<const BasicAuthenticator> basic_auth;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  std::shared_ptr<const WebState> web_state() const;
  mutable std::mutex web_mu_;
  std::shared_ptr<const WebState> web_state_;  // never null
  std::unique_ptr<ReloadableTls> tls_;         // with tls_server_config only
  std::unique_ptr<ConnectionGuard> guard_;  // --web.max-connections-per-client
  std::atomic<std::uint64_t> closed_after_429_{0};
};

}  // namespace aee
