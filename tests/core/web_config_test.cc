// --web.config.file parsing: what promtool check web-config rejects, we reject.
#include "core/web_config.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace aee {
namespace {

// bcrypt of "secret", cost 10 (htpasswd -nbBC 10).
std::string HashOf(const std::string& password, int cost = 10);

class WebConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("aee-webcfg-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::string cmd = "cd " + dir_.string() +
                      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 "
                      "-subj /CN=localhost >/dev/null 2>&1 && openssl req -x509 -newkey rsa:2048 -nodes "
                      "-keyout other-key.pem -out other.pem -days 2 -subj /CN=other >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  bool Parse(const std::string& yaml, WebConfig* cfg = nullptr) {
    WebConfig tmp;
    error_.clear();
    return ParseWebConfig(yaml, dir_.string(), cfg != nullptr ? cfg : &tmp, &error_);
  }
  std::filesystem::path dir_;
  std::string error_;
};

TEST_F(WebConfigTest, AcceptsTheToolkitFormat) {
  WebConfig cfg;
  ASSERT_TRUE(Parse("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS13\n"
                    "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: cert.pem\n"
                    "http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: deny\n"
                    "basic_auth_users:\n  alice: " + HashOf("secret", 4) + "\n",
                    &cfg))
      << error_;
  ASSERT_TRUE(cfg.tls);
  EXPECT_EQ(cfg.tls->cert_file, (dir_ / "cert.pem").string());
  EXPECT_EQ(cfg.tls->min_version, 0x0304);
  EXPECT_EQ(cfg.tls->client_auth_type, "RequireAndVerifyClientCert");
  ASSERT_EQ(cfg.headers.size(), 1u);
  EXPECT_EQ(cfg.basic_auth_users.count("alice"), 1u);
  EXPECT_TRUE(Parse("")) << error_;  // empty file: plain HTTP, no auth
}

TEST_F(WebConfigTest, RejectsWhatPromtoolRejects) {
  struct Case {
    std::string yaml, reason;
  } cases[] = {
      {"tls_server_config:\n  cert_file: cert.pem\n", "missing key_file"},
      {"tls_server_config:\n  key_file: key.pem\n", "missing cert_file"},
      {"tls_server_config:\n  cert_file: cert.pem\n  key_file: other-key.pem\n", "X509KeyPair"},
      {"tls_server_config:\n  cert_file: nope.pem\n  key_file: key.pem\n", "X509KeyPair"},
      {"tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS14\n", "unknown TLS version: TLS14"},
      {"tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: Sometimes\n", "Invalid ClientAuth: Sometimes"},
      {"tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_ca_file: cert.pem\n",
       "Client CA's have been configured without a Client Auth Policy"},
      {"tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAndVerifyClientCert\n"
       "  client_ca_file: missing.pem\n", "unable to load client CA"},
      {"tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  bogus: 1\n", "field bogus not found in type web.TLSConfig"},
      {"nonsense: 1\n", "field nonsense not found in type web.Config"},
      {"basic_auth_users:\n  bob: plaintext\n", "hashedSecret too short"},
      {"basic_auth_users:\n  bob: $2y$03$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "cost 3 is outside allowed range"},
      {"http_server_config:\n  headers:\n    Server: nginx\n", "HTTP header \"Server\" can not be configured"},
      {"http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n", "X-Content-Type-Options"},
      {"tls_server_config: [1, 2\n", "yaml"},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(Parse(c.yaml)) << c.yaml;
    EXPECT_NE(error_.find(c.reason), std::string::npos) << c.yaml << " -> " << error_;
  }
}

// Found while writing fuzz/flags_fuzzer.cc (its fixtures include a directory): a
// directory read as an empty file, so --web.config.file=<dir> started plain HTTP
// without auth instead of failing.
TEST_F(WebConfigTest, RejectsADirectory) {
  WebConfig cfg;
  EXPECT_FALSE(LoadWebConfig(dir_.string(), &cfg, &error_));
  EXPECT_NE(error_.find("is a directory"), std::string::npos) << error_;
  std::ofstream(dir_ / "empty.yml").close();
  EXPECT_TRUE(LoadWebConfig((dir_ / "empty.yml").string(), &cfg, &error_)) << error_;
}

// Issue #17: cipher_suites, curve_preferences and prefer_server_cipher_suites take
// the exporter-toolkit's (Go crypto/tls) names and become OpenSSL's; TLS 1.3 names
// are accepted and change nothing (Go does not configure TLS 1.3 suites either).
TEST_F(WebConfigTest, TakesCipherSuitesCurvesAndVersionsByTheirGoNames) {
  const std::string tls = "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n";
  WebConfig cfg;
  ASSERT_TRUE(Parse(tls, &cfg)) << error_;
  ASSERT_TRUE(cfg.tls);
  EXPECT_TRUE(cfg.tls->cipher_suites.empty());
  EXPECT_EQ(Tls12CipherList(*cfg.tls), kDefaultTls12Ciphers);
  EXPECT_TRUE(cfg.tls->curve_preferences.empty());
  EXPECT_TRUE(cfg.tls->prefer_server_cipher_suites);
  EXPECT_EQ(cfg.tls->max_version, 0x0304);

  ASSERT_TRUE(Parse(tls + "  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
                          "    - TLS_AES_128_GCM_SHA256\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n"
                          "    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
                          "  curve_preferences: [X25519, CurveP256, CurveP384, CurveP521]\n"
                          "  prefer_server_cipher_suites: false\n  max_version: TLS12\n",
                    &cfg))
      << error_;
  EXPECT_EQ(cfg.tls->cipher_suites,
            (std::vector<std::string>{"ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"}));
  EXPECT_EQ(Tls12CipherList(*cfg.tls), "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(cfg.tls->curve_preferences, (std::vector<std::string>{"X25519", "P-256", "P-384", "P-521"}));
  EXPECT_FALSE(cfg.tls->prefer_server_cipher_suites);
  EXPECT_EQ(cfg.tls->max_version, 0x0303);

  // Only TLS 1.3 suites with TLS 1.3 only: nothing to configure, nothing wrong.
  EXPECT_TRUE(Parse(tls + "  min_version: TLS13\n  cipher_suites: [TLS_CHACHA20_POLY1305_SHA256]\n")) << error_;
}

// Our table of Go names agrees with OpenSSL's own IANA-to-OpenSSL mapping, and a
// suite this OpenSSL cannot provide (RC4 under OpenSSL 3) is an error, not ignored.
TEST_F(WebConfigTest, MapsEveryGoCipherSuiteToOpenSslsName) {
  const char* go_names[] = {"TLS_RSA_WITH_RC4_128_SHA",
                            "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                            "TLS_RSA_WITH_AES_128_CBC_SHA",
                            "TLS_RSA_WITH_AES_256_CBC_SHA",
                            "TLS_RSA_WITH_AES_128_CBC_SHA256",
                            "TLS_RSA_WITH_AES_128_GCM_SHA256",
                            "TLS_RSA_WITH_AES_256_GCM_SHA384",
                            "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
                            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
                            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
                            "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
                            "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
                            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
                            "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
                            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
                            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
                            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"};
  int accepted = 0;
  for (const char* go : go_names) {
    WebConfig cfg;
    const bool ok = Parse(
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  cipher_suites: [" + std::string(go) + "]\n",
        &cfg);
    // OpenSSL knows the names of the suites it was built with ("(NONE)" otherwise).
    const std::string openssl = OPENSSL_cipher_name(go);
    if (!ok) {
      EXPECT_EQ(openssl, "(NONE)") << go << " is in this OpenSSL but was refused: " << error_;
      EXPECT_NE(error_.find("tls_server_config.cipher_suites: \"" + std::string(go) + "\" (OpenSSL "),
                std::string::npos)
          << go << " -> " << error_;
      EXPECT_NE(error_.find(") is not available in this OpenSSL"), std::string::npos) << error_;
      continue;
    }
    ++accepted;
    ASSERT_TRUE(cfg.tls);
    EXPECT_EQ(cfg.tls->cipher_suites, std::vector<std::string>{openssl}) << go;
  }
  EXPECT_GE(accepted, 16);  // all but RC4 and 3DES, which Debian's OpenSSL 3 lacks
}

TEST_F(WebConfigTest, RejectsUnknownCipherSuitesCurvesAndVersionsNamingKeyAndValue) {
  const std::string tls = "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n";
  struct Case {
    std::string yaml, reason;
  } cases[] = {
      {tls + "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ECDHE-RSA-AES128-SHA]\n",
       "tls_server_config.cipher_suites: unknown cipher suite \"ECDHE-RSA-AES128-SHA\""},
      {tls + "  cipher_suites: [TLS_DHE_RSA_WITH_AES_128_GCM_SHA256]\n",
       "unknown cipher suite \"TLS_DHE_RSA_WITH_AES_128_GCM_SHA256\""},
      // Names are checked even without a certificate (no TLS): promtool checks them too.
      {"tls_server_config:\n  cipher_suites: [BOGUS]\n", "unknown cipher suite \"BOGUS\""},
      {tls + "  cipher_suites: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n", "cipher_suites: want a list of names"},
      {tls + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "lists only TLS 1.3 suites"},
      {tls + "  curve_preferences: [CurveP256, P-384]\n",
       "tls_server_config.curve_preferences: unknown curve \"P-384\""},
      {tls + "  curve_preferences: {a: 1}\n", "curve_preferences: want a list of names"},
      {tls + "  prefer_server_cipher_suites: sometimes\n",
       "tls_server_config.prefer_server_cipher_suites: want true or false, got \"sometimes\""},
      {tls + "  max_version: TLS14\n", "unknown TLS version: TLS14"},
      {tls + "  min_version: TLS13\n  max_version: TLS12\n", "min_version is greater than max_version"},
      {tls + "  client_allowed_sans: [a]\n", "client_allowed_sans is not supported"},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(Parse(c.yaml)) << c.yaml;
    EXPECT_NE(error_.find(c.reason), std::string::npos) << c.yaml << " -> " << error_;
  }
}

TEST(BasicAuthenticatorTest, ChecksBcryptAndCostsTheSameForUnknownUsers) {
  BasicAuthenticator auth({{"alice", HashOf("secret", 8)}});
  EXPECT_TRUE(auth.CheckCredentials("alice", "secret"));
  EXPECT_TRUE(auth.CheckCredentials("alice", "secret"));  // cached
  EXPECT_FALSE(auth.CheckCredentials("alice", "wrong"));
  EXPECT_FALSE(auth.CheckCredentials("mallory", "secret"));
  EXPECT_TRUE(auth.Check("Basic YWxpY2U6c2VjcmV0"));  // alice:secret
  EXPECT_FALSE(auth.Check("Basic !!!"));
  EXPECT_FALSE(auth.Check("Bearer x"));
  // Found by fuzz/http_parsing_fuzzer.cc: crypt_r stops at a NUL byte, so these
  // passed for "secret" (the first one straight after a cached success).
  EXPECT_FALSE(auth.CheckCredentials("alice", std::string("secret\0", 7)));
  EXPECT_FALSE(auth.CheckCredentials("alice", std::string("secret\0x", 8)));
  EXPECT_FALSE(auth.Check("Basic YWxpY2U6c2VjcmV0AA=="));  // alice:secret\0
  // Unknown users run bcrypt at the highest configured cost (checked by the hash's
  // cost field, not by timing: this machine is shared and noisy).
  EXPECT_EQ(auth.dummy_hash().substr(0, 7), "$2b$08$");
  EXPECT_EQ(auth.dummy_hash().size(), 60u);
  BasicAuthenticator mixed({{"a", HashOf("x", 4)}, {"b", HashOf("y", 9)}});
  EXPECT_EQ(mixed.dummy_hash().substr(0, 7), "$2b$09$");
}

TEST(Base64Test, Decodes) {
  std::string out;
  EXPECT_TRUE(Base64Decode("YWxpY2U6c2VjcmV0", &out));
  EXPECT_EQ(out, "alice:secret");
  EXPECT_TRUE(Base64Decode("YQ==", &out));
  EXPECT_EQ(out, "a");
  EXPECT_FALSE(Base64Decode("YQ=", &out));
  EXPECT_FALSE(Base64Decode("Y=Q=", &out));
}

}  // namespace
}  // namespace aee

#include <crypt.h>

#include <memory>

namespace aee {
namespace {
std::string HashOf(const std::string& password, int cost) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  crypt_gensalt_rn("$2y$", static_cast<unsigned long>(cost), nullptr, 0, salt, sizeof salt);
  auto data = std::make_unique<crypt_data>();
  return crypt_r(password.c_str(), salt, data.get());
}
}  // namespace
}  // namespace aee
