// WebSocket routes of the HTTP server (civetweb's websocket support): the live
// view's execution_update push (issue #12).
#include <civetweb.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "core/connection_guard.h"
#include "core/http_server.h"

namespace aee {
namespace {

constexpr std::string_view kBearerProtocol = "bearer.";

// "bearer.<token>" among the comma-separated offered subprotocols, or "".
std::string BearerFromSubprotocols(const char* header) {
  if (header == nullptr) return "";
  std::string_view rest(header);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.rfind(kBearerProtocol, 0) == 0) return std::string(item.substr(kBearerProtocol.size()));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return "";
}

// Bytes the connection has received so far (TCP_INFO), or 0 when unknown.
std::uint64_t BytesReceived(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  if (len < offsetof(tcp_info, tcpi_bytes_received) + sizeof info.tcpi_bytes_received) return 0;
  return info.tcpi_bytes_received;
}

}  // namespace

bool WebSocketPeer::Send(std::string_view text) {
  std::lock_guard lock(mu_);
  if (conn_ == nullptr) return false;
  if (fd_ >= 0) {
    // Room in the kernel's send buffer for the whole frame, or nothing queued:
    // then the write does not wait on the client. Otherwise the client is behind:
    // it gets the latest state once it has caught up (the caller retries).
    int queued = 0;
    int capacity = 0;
    socklen_t len = sizeof capacity;
    if (ioctl(fd_, SIOCOUTQ, &queued) == 0 && getsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &capacity, &len) == 0 &&
        queued > 0 && static_cast<std::size_t>(queued) + text.size() + 16 > static_cast<std::size_t>(capacity)) {
      return false;
    }
  }
  return mg_websocket_write(conn_, MG_WEBSOCKET_OPCODE_TEXT, text.data(), text.size()) > 0;
}

void WebSocketPeer::Close() {
  std::lock_guard lock(mu_);
  if (conn_ == nullptr) return;
  // A close frame when the socket takes it at once, then end of stream: the
  // connection's worker sees it and runs the close handler.
  int queued = 0;
  if (fd_ < 0 || (ioctl(fd_, SIOCOUTQ, &queued) == 0 && queued == 0)) {
    const char code[2] = {0x03, static_cast<char>(0xe8)};  // 1000: normal closure
    mg_websocket_write(conn_, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, code, sizeof code);
  }
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
}

bool WebSocketPeer::open() const {
  std::lock_guard lock(mu_);
  return conn_ != nullptr;
}

void HttpServer::HandleWebSocket(std::string prefix, WebSocketRoute route) {
  websocket_routes_.emplace_back(std::move(prefix), std::move(route));
}

void HttpServer::RegisterWebSocketRoutes() {
  if (websocket_routes_.empty()) return;
  subprotocol_list_ = {options_.websocket.subprotocol.c_str()};
  auto list = std::make_shared<mg_websocket_subprotocols>();
  list->nb_subprotocols = 1;
  list->subprotocols = subprotocol_list_.data();
  subprotocols_ = list;
  for (const auto& [prefix, route] : websocket_routes_) {
    mg_set_websocket_handler_with_subprotocols(ctx_, prefix.c_str(), list.get(), &HttpServer::OnWebSocketConnect,
                                               &HttpServer::OnWebSocketReady, &HttpServer::OnWebSocketData,
                                               &HttpServer::OnWebSocketClose, this);
  }
  ws_watch_stop_ = false;
  ws_watch_ = std::thread([this] { WatchWebSockets(); });
}

// Ends every WebSocket that received more than its allowance: civetweb would
// otherwise buffer a frame of up to 2 GiB before OnWebSocketData could refuse it.
// Checked every watch_interval while connections exist, so a connection holds at
// most its allowance plus what arrives in one interval.
void HttpServer::WatchWebSockets() {
  const auto& o = options_.websocket;
  const SteadyClock& clock = *options_.steady_clock;
  std::unique_lock lock(peers_mu_);
  while (!ws_watch_stop_) {
    if (peers_.empty()) {
      clock.WaitUntil(ws_watch_cv_, lock, clock.Now() + std::chrono::seconds(1));
      continue;
    }
    std::vector<std::shared_ptr<WebSocketPeer>> peers;
    for (const auto& [conn, entry] : peers_) peers.push_back(entry.first);
    lock.unlock();
    const auto now = clock.Now();
    for (const auto& peer : peers) {
      std::lock_guard peer_lock(peer->mu_);
      if (peer->conn_ == nullptr || peer->fd_ < 0) continue;
      const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - peer->upgraded_at_).count();
      const std::uint64_t allowed = o.receive_allowance + o.receive_per_second * static_cast<std::uint64_t>(age);
      const std::uint64_t received = BytesReceived(peer->fd_);
      if (received > peer->received_at_upgrade_ + allowed) {
        shutdown(peer->fd_, SHUT_RDWR);
        if (ws_over_allowance_.fetch_add(1) % 100 == 0) {
          logger_.Log(LogLevel::kWarn, "websocket client sent more than allowed, closed",
                      {{"remote", peer->remote_addr_}, {"bytes", std::to_string(received - peer->received_at_upgrade_)}});
        }
      }
    }
    lock.lock();
    clock.WaitUntil(ws_watch_cv_, lock, clock.Now() + std::chrono::milliseconds(o.watch_interval_ms),
                    [this] { return ws_watch_stop_; });
  }
}

// The refusal of an upgrade, written whole: civetweb's response-header calls do
// nothing in a websocket connect handler.
void HttpServer::SendError(mg_connection* conn, const HttpResponse& resp) {
  std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " + mg_get_response_code_text(conn, resp.status) +
                     "\r\nContent-Type: " + resp.content_type +
                     "\r\nContent-Length: " + std::to_string(resp.body.size()) +
                     "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n";
  for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\r\n";
  head += "\r\n";
  head += resp.body;
  mg_write(conn, head.data(), head.size());
}

// Before the handshake: the same admission as every request (rate limit, basic
// auth), then the route decides. A refusal is a plain HTTP answer (401, 404, 503)
// on a connection that then closes.
int HttpServer::OnWebSocketConnect(const mg_connection* conn, void* user_data) {
  auto* self = static_cast<HttpServer*>(user_data);
  HttpRequest req = ReadRequest(conn);
  if (req.authorization.empty()) {
    if (std::string token = BearerFromSubprotocols(mg_get_header(conn, "Sec-WebSocket-Protocol")); !token.empty()) {
      req.authorization = "Bearer " + token;
    }
  }
  const WebSocketRoute* route = nullptr;
  for (const auto& [prefix, r] : self->websocket_routes_) {
    if (req.path.rfind(prefix, 0) == 0) route = &r;
  }
  HttpResponse reject;
  std::shared_ptr<void> state;
  int status = 0;
  if (!self->Admit(req, &reject)) {
    status = reject.status;
  } else if (route == nullptr) {
    status = reject.status = 404;
    reject.body = "404 page not found\n";
  } else {
    try {
      status = route->accept(req, &reject, &state);
    } catch (const std::exception& e) {
      self->logger_.Log(LogLevel::kError, "websocket handler failed", {{"path", req.path}, {"err", e.what()}});
      status = 500;
      reject = HttpResponse{};
      reject.body = "internal error\n";
    }
    reject.status = status;
  }
  // civetweb hands this handler a const connection but lets it answer.
  auto* writable = const_cast<mg_connection*>(conn);
  if (status != 0) {
    SendError(writable, reject);
    return 1;
  }
  const mg_request_info* info = mg_get_request_info(conn);
  auto peer = std::make_shared<WebSocketPeer>();
  peer->conn_ = writable;
  peer->remote_addr_ = req.remote_addr;
  peer->state_ = std::move(state);
  if (info != nullptr) {
    peer->fd_ = FindConnectionSocket(info->remote_addr, info->remote_port, info->server_port);
    // Room for a whole view message in the send buffer (capped by net.core.wmem_max).
    if (peer->fd_ >= 0) {
      const int want = 1 << 20;
      setsockopt(peer->fd_, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
      peer->received_at_upgrade_ = BytesReceived(peer->fd_);
    }
    peer->upgraded_at_ = self->options_.steady_clock->Now();
  }
  std::lock_guard lock(self->peers_mu_);
  self->peers_[conn] = {std::move(peer), route};
  return 0;
}

void HttpServer::OnWebSocketReady(mg_connection* conn, void* user_data) {
  auto* self = static_cast<HttpServer*>(user_data);
  std::pair<std::shared_ptr<WebSocketPeer>, const WebSocketRoute*> entry;
  {
    std::lock_guard lock(self->peers_mu_);
    auto it = self->peers_.find(conn);
    if (it == self->peers_.end()) return;
    entry = it->second;
  }
  if (entry.second->ready) entry.second->ready(entry.first);
}

// Clients of the live view send nothing but control frames; anything else, or a
// frame over the bound, ends the connection.
int HttpServer::OnWebSocketData(mg_connection* conn, int bits, char* data, size_t len, void* user_data) {
  auto* self = static_cast<HttpServer*>(user_data);
  const int opcode = bits & 0x0f;
  if (len > self->options_.websocket.max_frame) return 0;
  switch (opcode) {
    case MG_WEBSOCKET_OPCODE_PING:
      mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_PONG, data, len);
      return 1;
    case MG_WEBSOCKET_OPCODE_PONG:
      return 1;
    default:  // close, text, binary, continuation: we are done
      return 0;
  }
}

void HttpServer::OnWebSocketClose(const mg_connection* conn, void* user_data) {
  auto* self = static_cast<HttpServer*>(user_data);
  std::pair<std::shared_ptr<WebSocketPeer>, const WebSocketRoute*> entry;
  {
    std::lock_guard lock(self->peers_mu_);
    auto it = self->peers_.find(conn);
    if (it == self->peers_.end()) return;
    entry = std::move(it->second);
    self->peers_.erase(it);
  }
  {
    // From here on Send() and Close() leave the connection alone: civetweb frees it.
    std::lock_guard lock(entry.first->mu_);
    entry.first->conn_ = nullptr;
    entry.first->fd_ = -1;
  }
  if (entry.second->closed) entry.second->closed(entry.first);
}

}  // namespace aee
