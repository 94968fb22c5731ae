#pragma once

#include <map>
#include <string>

namespace aee::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

/// A TCP connection to 127.0.0.1:port, from the loopback address source when
/// given (127.0.0.2, ...: "another client"); -1 when refused.
int ConnectLoopback(int port, const std::string& source = "");

/// Minimal blocking HTTP/1.1 GET against 127.0.0.1:port (Connection: close), from
/// source when given. Throws when no whole response head arrives within 30 s.
HttpResult HttpGet(int port, const std::string& path, const std::map<std::string, std::string>& headers = {},
                   const std::string& method = "GET", const std::string& source = "");

/// Inflates a gzip body (tests of Content-Encoding: gzip).
std::string Gunzip(const std::string& data);

}  // namespace aee::testing
