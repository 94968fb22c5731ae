#pragma once

#include <map>
#include <string>

namespace aee::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

/// A TCP connection to 127.0.0.1:port; -1 when refused.
int ConnectLoopback(int port);

/// Minimal blocking HTTP/1.1 GET against 127.0.0.1:port (Connection: close).
HttpResult HttpGet(int port, const std::string& path, const std::map<std::string, std::string>& headers = {},
                   const std::string& method = "GET");

/// Inflates a gzip body (tests of Content-Encoding: gzip).
std::string Gunzip(const std::string& data);

}  // namespace aee::testing
