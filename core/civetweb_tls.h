#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "core/web_config.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace aee {

/// Makes the TLS of Debian's civetweb 1.15 work with OpenSSL 3 (see the .cc).
/// Idempotent and thread-safe; false with *error when the shims cannot be loaded.
bool PrepareCivetwebTls(std::string* error);

/// Server TLS whose certificate, key, client CA and settings a reload can replace
/// while civetweb serves: each new connection is moved, from OpenSSL's ClientHello
/// callback, to the SSL_CTX of the latest configuration; open connections keep theirs.
class ReloadableTls {
 public:
  ReloadableTls() = default;
  ReloadableTls(const ReloadableTls&) = delete;
  ReloadableTls& operator=(const ReloadableTls&) = delete;

  /// Builds an SSL_CTX from tls and makes it the one new connections get. On
  /// failure the previous one stays, and *error says why. Thread-safe.
  bool Load(const TlsServerConfig& tls, std::string* error);
  /// Sets civetweb's SSL_CTX up (its init_ssl callback): the configuration loaded,
  /// and the callbacks that move each connection to the latest one. Call once,
  /// after a successful Load().
  bool Attach(ssl_ctx_st* civetweb_ctx, std::string* error);

 private:
  struct Generation;
  static int OnClientHello(ssl_st* ssl, int* alert, void* arg);
  std::shared_ptr<const Generation> Current() const;

  mutable std::mutex mu_;
  std::shared_ptr<const Generation> current_;
};

}  // namespace aee
