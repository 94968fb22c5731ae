#include "core/web_config.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

namespace aee {
namespace {

std::string Line(const YAML::Node& n) {
  return n.Mark().line >= 0 ? "line " + std::to_string(n.Mark().line + 1) + ": " : "";
}

// Unknown keys fail the way Go's yaml.UnmarshalStrict fails promtool.
bool CheckKeys(const YAML::Node& map, const std::vector<std::string_view>& known, std::string_view type,
               std::string* error) {
  if (!map.IsMap()) {
    *error = Line(map) + "cannot unmarshal into " + std::string(type) + " (want a mapping)";
    return false;
  }
  for (const auto& kv : map) {
    std::string key = kv.first.as<std::string>();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      *error = Line(kv.first) + "field " + key + " not found in type " + std::string(type);
      return false;
    }
  }
  return true;
}

bool Scalar(const YAML::Node& n, std::string_view field, std::string* out, std::string* error) {
  if (!n || n.IsNull()) return true;
  if (!n.IsScalar()) {
    *error = Line(n) + std::string(field) + ": want a string";
    return false;
  }
  *out = n.as<std::string>();
  return true;
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || base_dir.empty()) return path;
  return base_dir + "/" + path;
}

bool ParseTlsVersion(const std::string& text, int* out) {
  static const std::pair<std::string_view, int> kVersions[] = {
      {"TLS10", 0x0301}, {"TLS11", 0x0302}, {"TLS12", 0x0303}, {"TLS13", 0x0304}};
  for (const auto& [name, v] : kVersions) {
    if (text == name) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Go crypto/tls names (tls.CipherSuites() and tls.InsecureCipherSuites(), what the
// exporter-toolkit accepts) and OpenSSL's. The TLS 1.3 ones are accepted and have
// no effect, as in Go: TLS 1.3 suites are all AEAD and always on.
struct GoCipherSuite {
  std::string_view go;
  std::string_view openssl;  // empty: a TLS 1.3 suite
};
constexpr GoCipherSuite kGoCipherSuites[] = {
    {"TLS_RSA_WITH_RC4_128_SHA", "RC4-SHA"},
    {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "ECDHE-ECDSA-RC4-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_RC4_128_SHA", "ECDHE-RSA-RC4-SHA"},
    {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "ECDHE-RSA-DES-CBC3-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_AES_128_GCM_SHA256", ""},
    {"TLS_AES_256_GCM_SHA384", ""},
    {"TLS_CHACHA20_POLY1305_SHA256", ""},
};

// The exporter-toolkit's curve names (Go's tls.CurveID) and OpenSSL's group names.
constexpr std::pair<std::string_view, std::string_view> kGoCurves[] = {
    {"CurveP256", "P-256"}, {"CurveP384", "P-384"}, {"CurveP521", "P-521"}, {"X25519", "X25519"}};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ":") + i;
  return out;
}

// A YAML list of names (or null); *items gets them in order.
bool NameList(const YAML::Node& n, std::string_view field, std::vector<std::string>* items, std::string* error) {
  items->clear();
  if (!n || n.IsNull()) return true;
  if (!n.IsSequence()) {
    *error = Line(n) + "tls_server_config." + std::string(field) + ": want a list of names";
    return false;
  }
  for (const auto& item : n) {
    if (!item.IsScalar()) {
      *error = Line(item) + "tls_server_config." + std::string(field) + ": want a list of names";
      return false;
    }
    items->push_back(item.as<std::string>());
  }
  return true;
}

// One suite at a time: in a list OpenSSL skips the names it lacks (RC4 under
// OpenSSL 3) when others match, which would hide a suite that can never be used.
bool CipherAvailable(const std::string& openssl_name) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
  const bool ok = ctx && SSL_CTX_set_cipher_list(ctx.get(), openssl_name.c_str()) == 1;
  ERR_clear_error();
  return ok;
}

bool ParseCipherSuites(const YAML::Node& n, TlsServerConfig* tls, std::string* error) {
  std::vector<std::string> names;
  if (!NameList(n, "cipher_suites", &names, error)) return false;
  for (const auto& name : names) {
    auto it = std::find_if(std::begin(kGoCipherSuites), std::end(kGoCipherSuites),
                           [&](const GoCipherSuite& s) { return s.go == name; });
    if (it == std::end(kGoCipherSuites)) {
      *error = Line(n) + "tls_server_config.cipher_suites: unknown cipher suite \"" + name +
               "\" (Go crypto/tls names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)";
      return false;
    }
    std::string openssl(it->openssl);
    if (!openssl.empty() && !CipherAvailable(openssl)) {
      *error = Line(n) + "tls_server_config.cipher_suites: \"" + name + "\" (OpenSSL " + openssl +
               ") is not available in this OpenSSL";
      return false;
    }
    if (!openssl.empty() &&
        std::find(tls->cipher_suites.begin(), tls->cipher_suites.end(), openssl) == tls->cipher_suites.end()) {
      tls->cipher_suites.push_back(openssl);
    }
  }
  if (!names.empty() && tls->cipher_suites.empty() && tls->min_version < 0x0304) {
    // Go would then refuse every TLS 1.2 handshake; say so instead.
    *error = Line(n) +
             "tls_server_config.cipher_suites: lists only TLS 1.3 suites, which are not configurable "
             "(all are always on); list TLS 1.2 suites too, or set min_version: TLS13";
    return false;
  }
  return true;
}

bool ParseCurves(const YAML::Node& n, TlsServerConfig* tls, std::string* error) {
  std::vector<std::string> names;
  if (!NameList(n, "curve_preferences", &names, error)) return false;
  for (const auto& name : names) {
    auto it = std::find_if(std::begin(kGoCurves), std::end(kGoCurves), [&](const auto& c) { return c.first == name; });
    if (it == std::end(kGoCurves)) {
      *error = Line(n) + "tls_server_config.curve_preferences: unknown curve \"" + name +
               "\" (CurveP256, CurveP384, CurveP521 or X25519)";
      return false;
    }
    std::string group(it->second);
    if (std::find(tls->curve_preferences.begin(), tls->curve_preferences.end(), group) ==
        tls->curve_preferences.end()) {
      tls->curve_preferences.push_back(group);
    }
  }
  return true;
}

bool ParseBool(const YAML::Node& n, std::string_view field, bool* out, std::string* error) {
  if (!n || n.IsNull()) return true;
  bool value = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
    *error = Line(n) + "tls_server_config." + std::string(field) + ": want true or false, got \"" +
             (n.IsScalar() ? n.as<std::string>() : std::string("a non-scalar")) + "\"";
    return false;
  }
  *out = value;
  return true;
}

// Loads the key pair and CA the way the server will, so a bad file fails at start-up
// (or reload) with a reason instead of at the first handshake.
bool CheckTlsFiles(const TlsServerConfig& tls, std::string* error) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), &SSL_CTX_free);
  if (!ctx) {
    *error = "tls_server_config: " + OpenSslError();
    return false;
  }
  return ConfigureServerSslCtx(ctx.get(), tls, error);
}

bool ParseTls(const YAML::Node& n, const std::string& base_dir, WebConfig* out, std::string* error) {
  if (!CheckKeys(n,
                 {"cert_file", "key_file", "client_auth_type", "client_ca_file", "cipher_suites", "curve_preferences",
                  "min_version", "max_version", "prefer_server_cipher_suites", "client_allowed_sans"},
                 "web.TLSConfig", error)) {
    return false;
  }
  if (n["client_allowed_sans"]) {
    *error = Line(n["client_allowed_sans"]) + "tls_server_config.client_allowed_sans is not supported by this exporter";
    return false;
  }
  TlsServerConfig tls;
  std::string min_version, max_version;
  if (!Scalar(n["cert_file"], "cert_file", &tls.cert_file, error) ||
      !Scalar(n["key_file"], "key_file", &tls.key_file, error) ||
      !Scalar(n["client_ca_file"], "client_ca_file", &tls.client_ca_file, error) ||
      !Scalar(n["client_auth_type"], "client_auth_type", &tls.client_auth_type, error) ||
      !Scalar(n["min_version"], "min_version", &min_version, error) ||
      !Scalar(n["max_version"], "max_version", &max_version, error)) {
    return false;
  }
  if (!min_version.empty() && !ParseTlsVersion(min_version, &tls.min_version)) {
    *error = Line(n["min_version"]) + "unknown TLS version: " + min_version;
    return false;
  }
  if (!max_version.empty() && !ParseTlsVersion(max_version, &tls.max_version)) {
    *error = Line(n["max_version"]) + "unknown TLS version: " + max_version;
    return false;
  }
  // Names are checked even when no TLS is configured: promtool rejects them too.
  if (!ParseCipherSuites(n["cipher_suites"], &tls, error) || !ParseCurves(n["curve_preferences"], &tls, error) ||
      !ParseBool(n["prefer_server_cipher_suites"], "prefer_server_cipher_suites", &tls.prefer_server_cipher_suites,
                 error)) {
    return false;
  }
  bool any = !tls.cert_file.empty() || !tls.key_file.empty() || !tls.client_ca_file.empty() ||
             (n["client_auth_type"] && !n["client_auth_type"].IsNull());
  if (!any) return true;  // exporter-toolkit: no TLS configured, serve plain HTTP
  if (tls.cert_file.empty()) {
    *error = "tls_server_config: missing cert_file";
    return false;
  }
  if (tls.key_file.empty()) {
    *error = "tls_server_config: missing key_file";
    return false;
  }
  if (tls.client_auth_type.empty()) tls.client_auth_type = "NoClientCert";
  const std::string& auth = tls.client_auth_type;
  if (auth == "RequestClientCert" || auth == "RequireAnyClientCert") {
    *error = "tls_server_config: client_auth_type " + auth +
             " (a client certificate without verification) is not supported by this exporter; use "
             "VerifyClientCertIfGiven or RequireAndVerifyClientCert";
    return false;
  }
  if (auth != "NoClientCert" && auth != "VerifyClientCertIfGiven" && auth != "RequireAndVerifyClientCert") {
    *error = "tls_server_config: Invalid ClientAuth: " + auth;
    return false;
  }
  if (!tls.client_ca_file.empty() && auth == "NoClientCert") {
    *error = "tls_server_config: Client CA's have been configured without a Client Auth Policy";
    return false;
  }
  if (tls.client_ca_file.empty() && auth != "NoClientCert") {
    *error = "tls_server_config: client_auth_type " + auth + " needs client_ca_file";
    return false;
  }
  if (tls.min_version > tls.max_version) {
    *error = "tls_server_config: min_version is greater than max_version";
    return false;
  }
  tls.cert_file = Resolve(base_dir, tls.cert_file);
  tls.key_file = Resolve(base_dir, tls.key_file);
  tls.client_ca_file = Resolve(base_dir, tls.client_ca_file);
  if (!CheckTlsFiles(tls, error)) return false;
  out->tls = tls;
  return true;
}

// exporter-toolkit's validateHeaderConfig: only these headers, with these values.
bool ParseHeaders(const YAML::Node& n, WebConfig* out, std::string* error) {
  if (!n.IsMap()) {
    *error = Line(n) + "http_server_config.headers: want a mapping";
    return false;
  }
  static const std::string_view kAllowed[] = {"Strict-Transport-Security", "X-Content-Type-Options",
                                              "X-Frame-Options", "X-XSS-Protection", "Content-Security-Policy"};
  for (const auto& kv : n) {
    std::string name = kv.first.as<std::string>(), value;
    if (!Scalar(kv.second, name, &value, error)) return false;
    if (std::find(std::begin(kAllowed), std::end(kAllowed), name) == std::end(kAllowed)) {
      *error = Line(kv.first) + "HTTP header \"" + name + "\" can not be configured";
      return false;
    }
    if (name == "X-Content-Type-Options" && value != "nosniff") {
      *error = Line(kv.second) + "invalid value for X-Content-Type-Options. Expected one of: [nosniff], but got: " + value;
      return false;
    }
    if (name == "X-Frame-Options" && value != "deny" && value != "sameorigin") {
      *error = Line(kv.second) + "invalid value for X-Frame-Options. Expected one of: [deny sameorigin], but got: " + value;
      return false;
    }
    if (value.find_first_of("\r\n") != std::string::npos) {
      *error = Line(kv.second) + "HTTP header \"" + name + "\" value contains a line break";
      return false;
    }
    out->headers.emplace_back(name, value);
  }
  return true;
}

}  // namespace

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string Tls12CipherList(const TlsServerConfig& tls) {
  return tls.cipher_suites.empty() ? std::string(kDefaultTls12Ciphers) : Join(tls.cipher_suites);
}

bool ConfigureServerSslCtx(SSL_CTX* ctx, const TlsServerConfig& tls, std::string* error) {
  ERR_clear_error();
  auto fail = [&](const std::string& what) {
    *error = "tls_server_config: " + what + ": " + OpenSslError();
    return false;
  };
  if (SSL_CTX_set_min_proto_version(ctx, tls.min_version) != 1) return fail("min_version");
  if (SSL_CTX_set_max_proto_version(ctx, tls.max_version) != 1) return fail("max_version");
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1) {
    return fail("failed to load X509KeyPair: cert_file \"" + tls.cert_file + "\"");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("failed to load X509KeyPair: key_file \"" + tls.key_file + "\"");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    *error = "tls_server_config: failed to load X509KeyPair: private key does not match public key";
    ERR_clear_error();
    return false;
  }
  if (!tls.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      return fail("unable to load client CA \"" + tls.client_ca_file + "\"");
    }
    // The CA names sent in the CertificateRequest, so clients pick a matching certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr) return fail("unable to load client CA names \"" + tls.client_ca_file + "\"");
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  int mode = SSL_VERIFY_NONE;
  if (tls.client_auth_type == "VerifyClientCertIfGiven") mode = SSL_VERIFY_PEER;
  if (tls.client_auth_type == "RequireAndVerifyClientCert") mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(ctx, mode, nullptr);
  // Only TLS 1.2 and older: TLS 1.3 keeps OpenSSL's suites, all of them AEAD (Go
  // does not let its TLS 1.3 suites be configured either).
  if (SSL_CTX_set_cipher_list(ctx, Tls12CipherList(tls).c_str()) != 1) return fail("cipher_suites");
  if (!tls.curve_preferences.empty() && SSL_CTX_set1_groups_list(ctx, Join(tls.curve_preferences).c_str()) != 1) {
    return fail("curve_preferences " + Join(tls.curve_preferences));
  }
  if (tls.prefer_server_cipher_suites) {
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  } else {
    SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  }
  // Go's server refuses renegotiation; a client-initiated one only costs us CPU.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  return true;
}

bool ValidBcryptHash(std::string_view hash, std::string* error) {
  if (hash.size() < 59) {
    *error = "crypto/bcrypt: hashedSecret too short to be a bcrypted password";
    return false;
  }
  if (hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || (hash[2] != 'a' && hash[2] != 'b' && hash[2] != 'y')) {
    *error = "crypto/bcrypt: not a bcrypt hash ($2a$, $2b$ or $2y$)";
    return false;
  }
  if (hash.size() != 60 || !std::isdigit(static_cast<unsigned char>(hash[4])) ||
      !std::isdigit(static_cast<unsigned char>(hash[5])) || hash[6] != '$') {
    *error = "crypto/bcrypt: malformed bcrypt hash";
    return false;
  }
  int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
  if (cost < 4 || cost > 31) {
    *error = "crypto/bcrypt: cost " + std::to_string(cost) + " is outside allowed range (4,31)";
    return false;
  }
  return true;
}

bool ParseWebConfig(const std::string& yaml_text, const std::string& base_dir, WebConfig* out, std::string* error) {
  WebConfig cfg;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    *error = std::string("yaml: ") + e.what();
    return false;
  }
  if (root.IsNull()) {
    *out = std::move(cfg);
    return true;
  }
  try {
    if (!CheckKeys(root, {"tls_server_config", "http_server_config", "basic_auth_users"}, "web.Config", error)) {
      return false;
    }
    if (const YAML::Node tls = root["tls_server_config"]; tls && !tls.IsNull()) {
      if (!ParseTls(tls, base_dir, &cfg, error)) return false;
    }
    if (const YAML::Node http = root["http_server_config"]; http && !http.IsNull()) {
      if (!CheckKeys(http, {"http2", "headers"}, "web.HTTPConfig", error)) return false;
      if (http["headers"] && !http["headers"].IsNull() && !ParseHeaders(http["headers"], &cfg, error)) return false;
    }
    if (const YAML::Node users = root["basic_auth_users"]; users && !users.IsNull()) {
      if (!users.IsMap()) {
        *error = Line(users) + "basic_auth_users: want a mapping of user names to bcrypt hashes";
        return false;
      }
      for (const auto& kv : users) {
        std::string user = kv.first.as<std::string>(), hash;
        if (!Scalar(kv.second, user, &hash, error)) return false;
        std::string why;
        if (!ValidBcryptHash(hash, &why)) {
          *error = Line(kv.second) + "basic_auth_users: user \"" + user + "\": " + why;
          return false;
        }
        if (user.find(':') != std::string::npos) {
          *error = Line(kv.first) + "basic_auth_users: user name \"" + user + "\" contains ':'";
          return false;
        }
        cfg.basic_auth_users[user] = hash;
      }
    }
  } catch (const YAML::Exception& e) {
    *error = std::string("yaml: ") + e.what();
    return false;
  }
  *out = std::move(cfg);
  return true;
}

bool ReadConfigFile(const std::string& path, std::string_view what, std::string* text, std::string* error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    *error = "\"" + path + "\" is a directory, not " + std::string(what);
    return false;
  }
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read \"" + path + "\"";
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  *text = ss.str();
  return true;
}

bool LoadWebConfig(const std::string& path, WebConfig* out, std::string* error) {
  std::string text;
  if (!ReadConfigFile(path, "a web configuration file", &text, error)) return false;
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir.empty()) dir = "/";
  return ParseWebConfig(text, dir, out, error);
}

bool Base64Decode(std::string_view in, std::string* out) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return false;
  out->clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad > 0) return false;
        v[k] = value(c);
        if (v[k] < 0) return false;
      }
    }
    unsigned triple = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out->push_back(static_cast<char>((triple >> 16) & 0xff));
    if (pad < 2) out->push_back(static_cast<char>((triple >> 8) & 0xff));
    if (pad < 1) out->push_back(static_cast<char>(triple & 0xff));
  }
  return true;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

BasicAuthenticator::BasicAuthenticator(std::map<std::string, std::string> users) : users_(std::move(users)) {
  if (users_.empty()) return;
  // The dummy hash has the highest cost in the file: an unknown user costs at least
  // as much bcrypt work as any wrong password.
  int cost = 4;
  for (const auto& [user, hash] : users_) cost = std::max(cost, (hash[4] - '0') * 10 + (hash[5] - '0'));
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, salt, sizeof salt) != nullptr) {
    auto data = std::make_unique<crypt_data>();
    if (const char* h = crypt_r("agent-exporter-dummy", salt, data.get()); h != nullptr && h[0] == '$') dummy_hash_ = h;
  }
  if (dummy_hash_.empty()) dummy_hash_ = users_.begin()->second;
}

bool BasicAuthenticator::CheckCredentials(const std::string& user, const std::string& password) const {
  auto it = users_.find(user);
  const std::string& hash = it != users_.end() ? it->second : dummy_hash_;
  const std::string cache_key = Sha256Hex(user + '\0' + password + '\0' + hash);
  if (it != users_.end()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.count(cache_key) != 0) return true;
  }
  auto data = std::make_unique<crypt_data>();
  const char* computed = crypt_r(password.c_str(), hash.c_str(), data.get());
  // crypt_r reads a C string, so "s3cret\0x" would pass for "s3cret"; a password
  // holding a NUL byte is refused (after the same bcrypt work, to keep the timing).
  const bool nul_free = password.find('\0') == std::string::npos;
  bool ok = computed != nullptr && computed[0] == '$' && ConstantTimeEquals(computed, hash) && it != users_.end() &&
            nul_free;
  if (ok) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() >= 1024) cache_.clear();
    cache_.insert(cache_key);
  }
  return ok;
}

bool BasicAuthenticator::Check(std::string_view header) const {
  constexpr std::string_view kBasic = "Basic ";
  std::string user = "\x01unknown", password;
  if (header.size() > kBasic.size() && header.substr(0, kBasic.size()) == kBasic) {
    std::string decoded;
    if (Base64Decode(header.substr(kBasic.size()), &decoded)) {
      if (size_t colon = decoded.find(':'); colon != std::string::npos) {
        user = decoded.substr(0, colon);
        password = decoded.substr(colon + 1);
      }
    }
  }
  // Malformed headers run bcrypt too: every rejection costs the same.
  return CheckCredentials(user, password);
}

}  // namespace aee
