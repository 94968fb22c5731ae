#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace aee::testing {

/// A minimal RFC 6455 client over plain TCP to 127.0.0.1, for tests of the live
/// view's WebSocket: the handshake, text messages in, any frame out.
class WsClient {
 public:
  WsClient() = default;
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  /// Sends the upgrade request; returns the HTTP status of the answer (101 when
  /// upgraded, else the refusal, whose body is then in body()). 0 on a connection
  /// error. protocols: the Sec-WebSocket-Protocol offer ("" for none).
  int Connect(int port, const std::string& path, const std::string& protocols = "aee.v1",
              const std::map<std::string, std::string>& headers = {}, const std::string& source = "");
  /// The next text message, answering pings; nullopt on timeout or when closed.
  std::optional<std::string> Read(std::chrono::milliseconds timeout);
  /// Sends one masked frame with this opcode and payload.
  bool SendFrame(int opcode, const std::string& payload);
  /// Sends bytes as they are (a frame header announcing more than follows, …).
  bool SendRaw(const std::string& bytes);
  /// Whether the server closed the connection (a close frame or end of stream) by
  /// the time timeout passes.
  bool ClosedWithin(std::chrono::milliseconds timeout);

  const std::string& body() const { return body_; }
  const std::map<std::string, std::string>& headers() const { return headers_; }  // lower-case names

 private:
  bool Fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  bool closed_ = false;
  std::string buffer_;
  std::string body_;
  std::map<std::string, std::string> headers_;
};

}  // namespace aee::testing
