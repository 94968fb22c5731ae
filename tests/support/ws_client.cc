#include "tests/support/ws_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <random>

#include "tests/support/http_client.h"

namespace aee::testing {

WsClient::~WsClient() {
  if (fd_ >= 0) close(fd_);
}

bool WsClient::Fill(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char buf[65536];
  const ssize_t n = recv(fd_, buf, sizeof buf, 0);
  if (n <= 0) {
    closed_ = true;
    return false;
  }
  buffer_.append(buf, static_cast<size_t>(n));
  return true;
}

int WsClient::Connect(int port, const std::string& path, const std::string& protocols,
                      const std::map<std::string, std::string>& headers, const std::string& source) {
  fd_ = ConnectLoopback(port, source);
  if (fd_ < 0) return 0;
  std::string req = "GET " + path +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  if (!protocols.empty()) req += "Sec-WebSocket-Protocol: " + protocols + "\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  if (send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill(deadline)) return 0;
  }
  const std::string head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  const int status = std::stoi(head.substr(head.find(' ') + 1, 3));
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos < head.size()) {
    pos += 2;
    size_t next = head.find("\r\n", pos);
    std::string line = head.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
    if (size_t colon = line.find(':'); colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      headers_[name] = value;
    }
    pos = next;
  }
  if (status != 101) {
    // A refusal: read the body it announced.
    size_t length = headers_.count("content-length") ? std::stoul(headers_["content-length"]) : 0;
    while (buffer_.size() < length && Fill(deadline)) {
    }
    body_ = buffer_.substr(0, length);
  }
  return status;
}

bool WsClient::SendFrame(int opcode, const std::string& payload) {
  std::string frame;
  frame.push_back(static_cast<char>(0x80 | opcode));
  const size_t n = payload.size();
  if (n < 126) {
    frame.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(n >> 8));
    frame.push_back(static_cast<char>(n & 0xff));
  } else {
    frame.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff));
  }
  std::mt19937 rng(std::random_device{}());
  char mask[4];
  for (char& m : mask) m = static_cast<char>(rng() & 0xff);
  frame.append(mask, 4);
  for (size_t i = 0; i < n; ++i) frame.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(frame.size());
}

bool WsClient::SendRaw(const std::string& bytes) {
  return send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

std::optional<std::string> WsClient::Read(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (buffer_.size() >= 2) {
      const auto* b = reinterpret_cast<const unsigned char*>(buffer_.data());
      const int opcode = b[0] & 0x0f;
      uint64_t len = b[1] & 0x7f;
      size_t off = 2;
      if (len == 126 && buffer_.size() >= 4) {
        len = (uint64_t{b[2]} << 8) | b[3];
        off = 4;
      } else if (len == 127 && buffer_.size() >= 10) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | b[2 + i];
        off = 10;
      } else if (len >= 126) {
        len = UINT64_MAX;  // header incomplete
      }
      if (len != UINT64_MAX && buffer_.size() >= off + len) {
        std::string payload = buffer_.substr(off, len);
        buffer_.erase(0, off + len);
        if (opcode == 0x1) return payload;
        if (opcode == 0x8) {
          closed_ = true;
          return std::nullopt;
        }
        if (opcode == 0x9) SendFrame(0xa, payload);
        continue;
      }
    }
    if (closed_ || !Fill(deadline)) return std::nullopt;
  }
}

bool WsClient::ClosedWithin(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    if (!Read(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())) &&
        !closed_) {
      return false;
    }
  }
  return true;
}

}  // namespace aee::testing
