#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aee::fuzz {

/// Aborts with a message (a libFuzzer crash) when an invariant does not hold.
void Check(bool ok, std::string_view what, std::string_view input);

/// A fresh private directory under $TMPDIR, created once per process.
const std::string& ScratchDir();

/// Writes text to dir/name and returns the path.
std::string WriteFile(const std::string& dir, const std::string& name, std::string_view text);

/// Writes a self-signed P-256 certificate and its key (PEM) to dir/<prefix>.crt
/// and dir/<prefix>.key.
void WriteSelfSignedCert(const std::string& dir, const std::string& prefix);

/// Splits at '\n' (the harnesses' encoding of an argument list).
std::vector<std::string> SplitLines(std::string_view text);

/// A bcrypt hash (cost 4) of password, from libxcrypt.
std::string BcryptCost4(const std::string& password);

/// Standard base64 with padding (OpenSSL's EVP_EncodeBlock).
std::string Base64Encode(std::string_view data);

}  // namespace aee::fuzz
