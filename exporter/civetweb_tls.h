#pragma once

#include <string>

namespace aee {

/// Makes the TLS of Debian's civetweb 1.15 work with OpenSSL 3 (see the .cc).
/// Idempotent and thread-safe; false with *error when the shims cannot be loaded.
bool PrepareCivetwebTls(std::string* error);

}  // namespace aee
