#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace aee {

/// tls_server_config of the exporter-toolkit web configuration file.
struct TlsServerConfig {
  std::string cert_file;       // absolute (relative paths resolve against the file's directory)
  std::string key_file;
  std::string client_ca_file;  // empty: no client CA
  std::string client_auth_type = "NoClientCert";  // NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert
  int min_version = 0x0303;    // TLS version numbers: 0x0301 TLS 1.0 … 0x0304 TLS 1.3
  int max_version = 0x0304;
  /// OpenSSL names of the TLS 1.2 (and older) suites, from cipher_suites' Go names;
  /// empty: kDefaultTls12Ciphers. TLS 1.3 suites are not configurable (as in Go).
  std::vector<std::string> cipher_suites;
  /// OpenSSL group names (P-256, P-384, P-521, X25519); empty: OpenSSL's default.
  std::vector<std::string> curve_preferences;
  bool prefer_server_cipher_suites = true;  // the exporter-toolkit's default
};

/// The TLS 1.2 suites offered when cipher_suites is not set: ECDHE key exchange
/// (forward secrecy) with AES-GCM or ChaCha20-Poly1305 (AEAD), ECDSA before RSA.
inline constexpr char kDefaultTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// The exporter-toolkit --web.config.file (TLS, basic auth, response headers).
struct WebConfig {
  std::optional<TlsServerConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  // user -> bcrypt hash
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Parses YAML text; paths resolve against base_dir. Rejects what
/// `promtool check web-config` rejects (and what this exporter cannot honour),
/// with the reason in *error. Loads the certificate, key and CA to check them.
bool ParseWebConfig(const std::string& yaml_text, const std::string& base_dir, WebConfig* out, std::string* error);

/// The oldest queued OpenSSL error as text (and clears the queue); "unknown error"
/// when the queue is empty.
std::string OpenSslError();

/// Applies tls to a server SSL_CTX: certificate chain and key, client CA and
/// verification, versions, TLS 1.2 cipher suites, curves and server preference.
/// false with *error naming the setting and OpenSSL's reason.
bool ConfigureServerSslCtx(ssl_ctx_st* ctx, const TlsServerConfig& tls, std::string* error);

/// The OpenSSL cipher list for tls (its cipher_suites joined, or the default).
std::string Tls12CipherList(const TlsServerConfig& tls);

/// Reads and parses a web configuration file.
bool LoadWebConfig(const std::string& path, WebConfig* out, std::string* error);

/// Reads a whole configuration file into *text. A directory is an error, not an
/// empty file (it would otherwise pass as one: plain HTTP without auth when TLS was
/// asked for); what names the kind of file in that message ("a tokens file").
bool ReadConfigFile(const std::string& path, std::string_view what, std::string* text, std::string* error);

/// Checks a bcrypt hash the way Go's bcrypt.Cost does ($2a$/$2b$/$2y$, cost 4–31).
bool ValidBcryptHash(std::string_view hash, std::string* error);

/// Checks HTTP basic credentials against bcrypt hashes with libxcrypt's crypt_r.
/// An unknown user is checked against a dummy hash of the same cost, so it takes as
/// long to reject as a wrong password. Successful checks are cached (keyed by a
/// SHA-256 of user, password and hash) so a scraper does not pay bcrypt each time.
class BasicAuthenticator {
 public:
  explicit BasicAuthenticator(std::map<std::string, std::string> users);
  bool enabled() const { return !users_.empty(); }
  /// Checks an Authorization header value ("Basic base64(user:pass)").
  bool Check(std::string_view authorization_header) const;
  /// Checks decoded credentials.
  bool CheckCredentials(const std::string& user, const std::string& password) const;
  /// The bcrypt hash an unknown user's password is checked against: the highest
  /// cost of the configured hashes, so rejecting an unknown user costs as much
  /// bcrypt work as rejecting a wrong password.
  const std::string& dummy_hash() const { return dummy_hash_; }

 private:
  std::map<std::string, std::string> users_;
  std::string dummy_hash_;
  // The cache does not change what Check answers: a const authenticator can be
  // shared by requests and swapped whole on reload.
  mutable std::mutex mu_;
  mutable std::unordered_set<std::string> cache_;
};

/// Decodes standard base64 (with padding); false on invalid input.
bool Base64Decode(std::string_view in, std::string* out);

/// Lower-case hex SHA-256.
std::string Sha256Hex(std::string_view data);

/// Compares two strings in time that depends only on their lengths.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace aee
