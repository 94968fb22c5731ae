// The exporter-toolkit web configuration (--web.config.file): ParseWebConfig on
// YAML text, with relative paths resolving to fixture certificates; ValidBcryptHash
// on every basic-auth hash.
//
// Invariants: a rejected file has a non-empty error; an accepted one holds a key
// pair that loads, a known client auth policy with a CA exactly when it verifies,
// min_version <= max_version, TLS 1.2 suites and curves under OpenSSL's names that
// a fresh SSL_CTX takes (the whole TLS setup applies, as the server applies it),
// valid bcrypt hashes, user names without ':', only the headers the toolkit allows
// and no line breaks in their values.
#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/web_config.h"
#include "fuzz/fuzz_support.h"

namespace {

using aee::fuzz::Check;

std::string g_dir;

// The parser opens cert_file, key_file and client_ca_file. Keep it inside the
// fixture directory (no '/' in them) so that no input reads /dev/zero or a FIFO.
// Looks the fields up exactly as the parser does; when unsure, skip the input.
bool PathsStayInFixtureDir(const std::string& text) {
  try {
    const YAML::Node root = YAML::Load(text);
    if (!root.IsMap()) return true;
    const YAML::Node tls = root["tls_server_config"];
    if (!tls || !tls.IsMap()) return true;
    for (const char* field : {"cert_file", "key_file", "client_ca_file"}) {
      const YAML::Node n = tls[field];
      if (n && n.IsScalar() && n.as<std::string>().find('/') != std::string::npos) return false;
    }
    return true;
  } catch (const YAML::Exception&) {
    return true;  // the parser fails at the same place, before opening anything
  } catch (...) {
    return false;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_dir = aee::fuzz::ScratchDir();
  aee::fuzz::WriteSelfSignedCert(g_dir, "server");
  aee::fuzz::WriteSelfSignedCert(g_dir, "ca");
  aee::fuzz::WriteSelfSignedCert(g_dir, "other");
  aee::fuzz::WriteFile(g_dir, "empty", "");
  aee::fuzz::WriteFile(g_dir, "garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  if (!PathsStayInFixtureDir(input)) return 0;
  aee::WebConfig cfg;
  std::string error;
  if (!aee::ParseWebConfig(input, g_dir, &cfg, &error)) {
    Check(!error.empty(), "a rejected web config comes with an error", input);
    Check(!cfg.tls && cfg.basic_auth_users.empty() && cfg.headers.empty(), "a rejected config leaves *out alone", input);
    return 0;
  }
  Check(error.empty(), "an accepted web config leaves the error alone", input);
  if (cfg.tls) {
    const aee::TlsServerConfig& tls = *cfg.tls;
    Check(tls.cert_file.rfind(g_dir + "/", 0) == 0 && tls.key_file.rfind(g_dir + "/", 0) == 0,
          "cert and key resolve against the base directory", input);
    Check(tls.client_auth_type == "NoClientCert" || tls.client_auth_type == "VerifyClientCertIfGiven" ||
              tls.client_auth_type == "RequireAndVerifyClientCert",
          "known client auth type: " + tls.client_auth_type, input);
    Check(tls.client_ca_file.empty() == (tls.client_auth_type == "NoClientCert"),
          "a client CA exactly when client certificates are verified", input);
    Check(tls.min_version >= 0x0301 && tls.min_version <= tls.max_version && tls.max_version <= 0x0304,
          "TLS versions ordered and known", input);
    for (const auto& suite : tls.cipher_suites) {
      Check(!suite.empty() && suite.rfind("TLS_", 0) != 0, "cipher suites under OpenSSL's names: " + suite, input);
    }
    for (const auto& group : tls.curve_preferences) {
      Check(group == "P-256" || group == "P-384" || group == "P-521" || group == "X25519",
            "curves under OpenSSL's group names: " + group, input);
    }
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
    std::string why;
    Check(ctx && aee::ConfigureServerSslCtx(ctx.get(), tls, &why), "an accepted TLS setup applies: " + why, input);
  }
  for (const auto& [user, hash] : cfg.basic_auth_users) {
    std::string why;
    Check(aee::ValidBcryptHash(hash, &why), "accepted hashes are bcrypt", input);
    Check(user.find(':') == std::string::npos, "user names have no ':'", input);
  }
  for (const auto& [name, value] : cfg.headers) {
    Check(name == "Strict-Transport-Security" || name == "X-Content-Type-Options" || name == "X-Frame-Options" ||
              name == "X-XSS-Protection" || name == "Content-Security-Policy",
          "only allowed headers: " + name, input);
    Check(value.find_first_of("\r\n") == std::string::npos, "header values without line breaks", input);
  }
  return 0;
}
