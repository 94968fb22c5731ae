// The HTTP front in-process: TLS under OpenSSL 3 (the civetweb 1334 crash), basic
// auth, rate limits and slow clients.
#include "core/http_server.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "exporter/app.h"
#include "tests/support/http_client.h"

namespace aee {
namespace {

using testing::HttpGet;

// One HTTPS GET; returns the raw response ("" when the handshake fails).
std::string HttpsGet(int port, const std::string& path, int max_version = TLS1_3_VERSION) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_min_proto_version(ctx, 0);
  SSL_CTX_set_security_level(ctx, 0);  // let the client offer TLS 1.1: the server must refuse it
  SSL* ssl = SSL_new(ctx);
  int fd = testing::ConnectLoopback(port);
  SSL_set_fd(ssl, fd);
  std::string out;
  if (SSL_connect(ssl) == 1) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    SSL_write(ssl, req.data(), static_cast<int>(req.size()));
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  SSL_free(ssl);
  close(fd);
  SSL_CTX_free(ctx);
  return out;
}

HttpResponse Ok(const HttpRequest&) {
  HttpResponse r;
  r.body = "OK\n";
  return r;
}

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(std::filesystem::temp_directory_path() / ("aee-http-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    std::string cmd = "cd " + dir_->string() +
                      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 "
                      "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  std::unique_ptr<HttpServer> Start(HttpOptions opts) {
    opts.listen_address = "127.0.0.1:0";
    auto s = std::make_unique<HttpServer>(opts, logger_);
    s->Handle("/metrics", &Ok);
    std::string err;
    EXPECT_TRUE(s->Start(&err)) << err;
    return s;
  }
  static std::filesystem::path* dir_;
  Logger logger_{LogLevel::kError, LogFormat::kLogfmt};
};
std::filesystem::path* HttpServerTest::dir_ = nullptr;

// Debian's civetweb 1.15 under OpenSSL 3 either refuses to start or crashes on the
// first HTTPS request (civetweb issue 1334). This serves HTTPS several times.
TEST_F(HttpServerTest, ServesHttpsUnderOpenSsl3) {
  HttpOptions opts;
  opts.web.tls = TlsServerConfig{(*dir_ / "cert.pem").string(), (*dir_ / "key.pem").string(), "", "NoClientCert",
                                 TLS1_2_VERSION, TLS1_3_VERSION, {}, {}, true};
  auto s = Start(opts);
  ASSERT_FALSE(s->Ports().empty());
  for (int i = 0; i < 3; ++i) {
    std::string resp = HttpsGet(s->Ports()[0], "/metrics");
    EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp;
    EXPECT_NE(resp.find("\r\n\r\nOK\n"), std::string::npos) << resp;
  }
  EXPECT_EQ(HttpsGet(s->Ports()[0], "/metrics", TLS1_1_VERSION), "");  // TLS 1.1 refused
  // Plain HTTP to the TLS port: no answer, no crash, and HTTPS still works after.
  int plain_status = 0;
  try {
    plain_status = HttpGet(s->Ports()[0], "/metrics").status;
  } catch (const std::exception&) {
    plain_status = -1;  // connection closed without an HTTP answer
  }
  EXPECT_NE(plain_status, 200);
  EXPECT_EQ(HttpsGet(s->Ports()[0], "/metrics").rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(HttpServerTest, BasicAuthAndConfiguredHeaders) {
  HttpOptions opts;
  // htpasswd -nbB alice secret (cost 5 keeps the test fast)
  opts.web.basic_auth_users["alice"] = "$2y$05$Q/6wYH1c0tN7sPO5mFw9K.yqjSg8Qb4Ymx5w4t2tLQJ7ZHcwo8Uju";
  opts.web.headers.emplace_back("X-Frame-Options", "deny");
  auto s = Start(opts);
  int port = s->Ports()[0];
  auto anon = HttpGet(port, "/metrics");
  EXPECT_EQ(anon.status, 401);
  EXPECT_EQ(anon.headers["www-authenticate"], "Basic realm=\"agent_execution_exporter\"");
  EXPECT_EQ(anon.headers["x-frame-options"], "deny");
  EXPECT_EQ(HttpGet(port, "/metrics", {{"Authorization", "Basic YWxpY2U6d3Jvbmc="}}).status, 401);
  EXPECT_EQ(HttpGet(port, "/metrics", {{"Authorization", "Bearer abc"}}).status, 401);  // no tokens configured
}

TEST_F(HttpServerTest, RateLimitAnswers429WithRetryAfter) {
  HttpOptions opts;
  opts.rate_limit = 0.5;
  opts.rate_limit_burst = 3;
  auto s = Start(opts);
  int port = s->Ports()[0];
  for (int i = 0; i < 3; ++i) EXPECT_EQ(HttpGet(port, "/metrics").status, 200) << i;
  auto limited = HttpGet(port, "/metrics");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers["retry-after"], "2");
  EXPECT_EQ(HttpGet(port, "/healthz").status, 429);  // every endpoint, not only /metrics
}

// A body of pieces goes out whole and in order, whatever the pieces' sizes against
// the write buffer (64 KiB): many tiny ones, one exactly the buffer, one much larger,
// after a plain body prefix; Content-Length counts both; HEAD sends none of it.
TEST_F(HttpServerTest, WritesABodyOfPiecesWhole) {
  auto owned = std::make_shared<std::vector<std::string>>();
  std::string expected = "prefix\n";
  for (int i = 0; i < 5000; ++i) owned->push_back("line " + std::to_string(i) + "\n");
  owned->push_back(std::string(64 * 1024, 'b'));
  owned->push_back(std::string(64 * 1024 - 1, 'c'));
  owned->push_back(std::string(300 * 1024, 'd'));
  owned->push_back("end\n");
  HttpOptions opts;
  opts.listen_address = "127.0.0.1:0";
  auto s = std::make_unique<HttpServer>(opts, logger_);
  s->Handle("/pieces", [owned](const HttpRequest&) {
    HttpResponse r;
    r.body = "prefix\n";
    for (const std::string& p : *owned) r.pieces.Add(p);
    r.pieces.owners.push_back(owned);
    return r;
  });
  for (const std::string& p : *owned) expected += p;
  std::string err;
  ASSERT_TRUE(s->Start(&err)) << err;
  auto r = HttpGet(s->Ports()[0], "/pieces");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-length"], std::to_string(expected.size()));
  EXPECT_TRUE(r.body == expected) << r.body.size() << " bytes, expected " << expected.size();
  auto head = HttpGet(s->Ports()[0], "/pieces", {}, "HEAD");
  EXPECT_EQ(head.headers["content-length"], std::to_string(expected.size()));
  EXPECT_TRUE(head.body.empty());
}

TEST_F(HttpServerTest, BoundedRequestSize) {
  auto s = Start(HttpOptions{});
  auto big = HttpGet(s->Ports()[0], "/metrics", {{"X-Big", std::string(64 * 1024, 'a')}});
  EXPECT_NE(big.status, 200);
  EXPECT_EQ(HttpGet(s->Ports()[0], "/metrics").status, 200);
}

// Slowloris: idle and half-sent connections hold workers only until the request
// timeout; with the default 64 workers and 5 s, 100 such connections delay a scrape
// by one timeout at most, well under Prometheus' 10 s.
TEST_F(HttpServerTest, SlowClientsCannotStallAScrape) {
  HttpOptions opts;
  opts.max_connections_per_client = 0;  // the timeout alone (the cap: http_connection_limits_test.cc)
  auto s = Start(opts);
  int port = s->Ports()[0];
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    int fd = testing::ConnectLoopback(port);
    ASSERT_GE(fd, 0);
    if (i % 2 == 0) {
      const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
      ASSERT_GT(write(fd, partial, sizeof partial - 1), 0);
    }
    fds.push_back(fd);
  }
  auto start = std::chrono::steady_clock::now();
  auto r = HttpGet(port, "/metrics");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(seconds, 10.0);
  std::printf("scrape behind 100 slow connections answered in %.2f s\n", seconds);
  for (int fd : fds) close(fd);
}

// ---- Issue #17: TLS suites, and reloading --web.config.file ----

// One TLS connection as a client configures it; the server must be what refuses.
class TlsClient {
 public:
  /// ciphers: the TLS 1.2 suites offered, groups: the curves (empty: OpenSSL's
  /// defaults); sni: the server_name sent (empty: none, as curl to an IP address).
  explicit TlsClient(int port, int max_version = TLS1_3_VERSION, const std::string& ciphers = "",
                     const std::string& groups = "", const std::string& sni = "", SSL_SESSION* resume = nullptr)
      : ctx_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_security_level(ctx_, 0);  // offer weak suites too
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx_, max_version);
    if (!ciphers.empty()) SSL_CTX_set_cipher_list(ctx_, ciphers.c_str());
    if (!groups.empty()) SSL_CTX_set1_groups_list(ctx_, groups.c_str());
    ssl_ = SSL_new(ctx_);
    fd_ = testing::ConnectLoopback(port);
    SSL_set_fd(ssl_, fd_);
    if (!sni.empty()) {
      SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(sni.c_str()));
    }
    if (resume != nullptr) SSL_set_session(ssl_, resume);
    connected_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    // Without a clean shutdown OpenSSL marks the session not resumable, which
    // would make "not resumed after the reload" pass for the wrong reason.
    if (connected_) SSL_shutdown(ssl_);
    SSL_free(ssl_);
    close(fd_);
    SSL_CTX_free(ctx_);
  }
  bool connected() const { return connected_; }
  std::string cipher() const { return connected_ ? SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_)) : ""; }
  bool reused() const { return SSL_session_reused(ssl_) == 1; }
  std::string version() const { return SSL_get_version(ssl_); }
  /// CN of the certificate the server sent.
  std::string server_cn() const {
    X509* cert = SSL_get1_peer_certificate(ssl_);
    if (cert == nullptr) return "";
    char cn[256] = {0};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return cn;
  }
  /// One request (the server closes after it); the raw response.
  std::string Get(const std::string& path, const std::string& extra_headers = "") {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + extra_headers + "\r\n";
    SSL_write(ssl_, req.data(), static_cast<int>(req.size()));
    std::string out;
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    SSL_shutdown(ssl_);
    return out;
  }
  /// The session, to resume in another connection (caller frees it).
  SSL_SESSION* session() const { return SSL_get1_session(ssl_); }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
};

std::string BcryptOf(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  crypt_gensalt_rn("$2y$", 4, nullptr, 0, salt, sizeof salt);
  crypt_data data{};
  return crypt_r(password.c_str(), salt, &data);
}

std::string BasicHeader(const std::string& user, const std::string& password) {
  static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + password;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<unsigned char>(in[i + 2]);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kB64[v & 63] : '=';
  }
  return "Basic " + out;
}

// A web config parsed the way --web.config.file is, with files in the suite's dir.
WebConfig ParsedWebConfig(const std::string& yaml, const std::filesystem::path& dir) {
  WebConfig web;
  std::string err;
  EXPECT_TRUE(ParseWebConfig(yaml, dir.string(), &web, &err)) << err;
  return web;
}

// `openssl s_client -tls1_2 -cipher AES128-SHA` (and AES256-SHA256, and the
// forward-secret but CBC ECDHE-RSA-AES128-SHA) used to negotiate: the TLS 1.2
// default is now ECDHE with AES-GCM or ChaCha20-Poly1305 only.
TEST_F(HttpServerTest, DefaultTls12SuitesAreForwardSecretAead) {
  HttpOptions opts;
  opts.web = ParsedWebConfig("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n", *dir_);
  auto s = Start(opts);
  const int port = s->Ports()[0];
  for (const char* weak : {"AES128-SHA", "AES256-SHA256", "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256"}) {
    TlsClient c(port, TLS1_2_VERSION, weak);
    EXPECT_FALSE(c.connected()) << weak << " negotiated under TLS 1.2";
  }
  for (const char* good :
       {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"}) {
    TlsClient c(port, TLS1_2_VERSION, good);
    ASSERT_TRUE(c.connected()) << good;
    EXPECT_EQ(c.cipher(), good);
    EXPECT_EQ(c.Get("/metrics").rfind("HTTP/1.1 200", 0), 0u);
  }
  // A client offering weak suites first still gets an AEAD one.
  TlsClient mixed(port, TLS1_2_VERSION, "AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384");
  ASSERT_TRUE(mixed.connected());
  EXPECT_EQ(mixed.cipher(), "ECDHE-RSA-AES256-GCM-SHA384");
  TlsClient tls13(port);
  ASSERT_TRUE(tls13.connected());
  EXPECT_EQ(tls13.cipher().rfind("TLS_", 0), 0u) << tls13.cipher();  // TLS 1.3: AEAD suites only
}

TEST_F(HttpServerTest, ConfiguredCipherSuitesCurvesAndPreferenceAreHonoured) {
  const std::string tls =
      "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"
      "  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_RSA_WITH_AES_128_CBC_SHA]\n"
      "  curve_preferences: [CurveP384]\n";
  HttpOptions opts;
  opts.web = ParsedWebConfig(tls, *dir_);
  auto s = Start(opts);
  int port = s->Ports()[0];
  EXPECT_FALSE(TlsClient(port, TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256").connected()) << "not configured";
  {
    TlsClient c(port, TLS1_2_VERSION, "AES128-SHA");  // weak, but what the operator asked for
    ASSERT_TRUE(c.connected());
    EXPECT_EQ(c.cipher(), "AES128-SHA");
  }
  {
    TlsClient c(port, TLS1_2_VERSION, "AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384");
    ASSERT_TRUE(c.connected());
    EXPECT_EQ(c.cipher(), "ECDHE-RSA-AES256-GCM-SHA384");  // the server's order (prefer_server_cipher_suites)
  }
  EXPECT_FALSE(TlsClient(port, TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", "X25519").connected())
      << "X25519 is not in curve_preferences";
  EXPECT_TRUE(TlsClient(port, TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", "P-384").connected());
  EXPECT_FALSE(TlsClient(port, TLS1_3_VERSION, "", "X25519:P-256").connected()) << "TLS 1.3 has the curves too";
  EXPECT_TRUE(TlsClient(port, TLS1_3_VERSION, "", "X25519:P-384").connected());

  s.reset();
  opts.web = ParsedWebConfig(tls + "  prefer_server_cipher_suites: false\n  max_version: TLS12\n", *dir_);
  s = Start(opts);
  port = s->Ports()[0];
  TlsClient c(port, TLS1_3_VERSION, "AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384", "P-384");
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.version(), "TLSv1.2");    // max_version
  EXPECT_EQ(c.cipher(), "AES128-SHA");  // the client's order
}

// SIGHUP rotates passwords: the old one gets 401 from the next request on, the new
// one 200; the extra headers follow; a reload that would turn TLS on is refused
// and changes nothing.
TEST_F(HttpServerTest, ReloadSwapsBasicAuthUsersAndHeaders) {
  HttpOptions opts;
  opts.web.basic_auth_users["alice"] = BcryptOf("old-secret");
  opts.web.headers.emplace_back("X-Frame-Options", "deny");
  auto s = Start(opts);
  const int port = s->Ports()[0];
  EXPECT_EQ(HttpGet(port, "/metrics", {{"Authorization", BasicHeader("alice", "old-secret")}}).status, 200);
  EXPECT_EQ(HttpGet(port, "/metrics", {{"Authorization", BasicHeader("alice", "new-secret")}}).status, 401);

  WebConfig next;
  next.basic_auth_users["alice"] = BcryptOf("new-secret");
  next.headers.emplace_back("X-Frame-Options", "sameorigin");
  std::string err;
  ASSERT_TRUE(s->Reload(next, &err)) << err;
  EXPECT_EQ(HttpGet(port, "/metrics", {{"Authorization", BasicHeader("alice", "old-secret")}}).status, 401);
  auto ok = HttpGet(port, "/metrics", {{"Authorization", BasicHeader("alice", "new-secret")}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers["x-frame-options"], "sameorigin");

  WebConfig with_tls = ParsedWebConfig("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n", *dir_);
  EXPECT_FALSE(s->Reload(with_tls, &err));
  EXPECT_NE(err.find("turning TLS on needs a restart"), std::string::npos) << err;
  EXPECT_EQ(HttpGet(port, "/metrics", {{"Authorization", BasicHeader("alice", "new-secret")}}).status, 200);

  WebConfig open;  // no users: basic auth off
  ASSERT_TRUE(s->Reload(open, &err)) << err;
  EXPECT_EQ(HttpGet(port, "/metrics").status, 200);
}

// Certificate rotation: new connections get the new certificate (with and without
// SNI), a connection opened before the reload keeps working, sessions from before
// the reload are not resumed (a full handshake instead), and a reload whose files
// do not load keeps the last good certificate.
TEST_F(HttpServerTest, ReloadServesARotatedCertificateToNewConnections) {
  const std::string cmd = "cd " + dir_->string() +
                          " && openssl req -x509 -newkey rsa:2048 -nodes -keyout rotated-key.pem -out rotated.pem "
                          "-days 2 -subj /CN=rotated -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  HttpOptions opts;
  opts.web = ParsedWebConfig("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n", *dir_);
  auto s = Start(opts);
  const int port = s->Ports()[0];

  SSL_SESSION* before[2] = {nullptr, nullptr};  // TLS 1.2 and TLS 1.3 sessions
  for (int i = 0; i < 2; ++i) {
    const int max = i == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    TlsClient first(port, max);
    ASSERT_TRUE(first.connected());
    EXPECT_EQ(first.server_cn(), "localhost");
    EXPECT_EQ(first.Get("/metrics").rfind("HTTP/1.1 200", 0), 0u);
    before[i] = first.session();
    for (int again = 0; again < 2; ++again) {  // resumable, and more than once
      TlsClient resumed(port, max, "", "", "", before[i]);
      ASSERT_TRUE(resumed.connected());
      EXPECT_TRUE(resumed.reused()) << "TLS version " << max;
    }
  }

  TlsClient open_before(port);
  ASSERT_TRUE(open_before.connected());

  WebConfig rotated =
      ParsedWebConfig("tls_server_config:\n  cert_file: rotated.pem\n  key_file: rotated-key.pem\n", *dir_);
  std::string err;
  ASSERT_TRUE(s->Reload(rotated, &err)) << err;
  for (const char* sni : {"", "localhost"}) {
    TlsClient c(port, TLS1_3_VERSION, "", "", sni);
    ASSERT_TRUE(c.connected()) << sni;
    EXPECT_EQ(c.server_cn(), "rotated") << "SNI \"" << sni << "\"";
    EXPECT_EQ(c.Get("/metrics").rfind("HTTP/1.1 200", 0), 0u);
  }
  TlsClient tls12(port, TLS1_2_VERSION);
  ASSERT_TRUE(tls12.connected());
  EXPECT_EQ(tls12.server_cn(), "rotated");
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(SSL_SESSION_is_resumable(before[i]), 1);  // the client offers it
    TlsClient c(port, i == 0 ? TLS1_2_VERSION : TLS1_3_VERSION, "", "", "", before[i]);
    ASSERT_TRUE(c.connected());
    EXPECT_FALSE(c.reused()) << "a session from before the reload was resumed: " << c.version();
    EXPECT_EQ(c.server_cn(), "rotated");
    SSL_SESSION_free(before[i]);
  }
  EXPECT_EQ(open_before.server_cn(), "localhost");
  EXPECT_EQ(open_before.Get("/metrics").rfind("HTTP/1.1 200", 0), 0u) << "a connection from before the reload";

  // A key that does not match: refused, the rotated certificate stays.
  WebConfig broken = rotated;
  broken.tls->key_file = (*dir_ / "key.pem").string();
  EXPECT_FALSE(s->Reload(broken, &err));
  EXPECT_NE(err.find("failed to load X509KeyPair"), std::string::npos) << err;
  WebConfig plain;
  EXPECT_FALSE(s->Reload(plain, &err));
  EXPECT_NE(err.find("turning TLS off needs a restart"), std::string::npos) << err;
  TlsClient after(port);
  ASSERT_TRUE(after.connected());
  EXPECT_EQ(after.server_cn(), "rotated");
}

// Exporter::ReloadWebConfig (what SIGHUP runs) re-reads the file: a new password
// works, and an invalid file, or one that turns TLS on, is refused with the reason
// while the previous configuration keeps serving.
TEST_F(HttpServerTest, ExporterReloadsTheWebConfigFileAndKeepsItWhenInvalid) {
  const std::filesystem::path file = *dir_ / "web.yml";
  auto write = [&](const std::string& yaml) { std::ofstream(file) << yaml; };
  write("basic_auth_users:\n  alice: " + BcryptOf("old-secret") + "\n");
  Config cfg;
  std::string err;
  ASSERT_TRUE(ParseFlags(
      {"--web.listen-address=127.0.0.1:0", "--web.config.file=" + file.string(),
       "--db.url=postgresql://x@127.0.0.1:1/x"},
      [](const char*) -> const char* { return nullptr; }, &cfg, &err))
      << err;
  SystemClock clock;
  Exporter e(cfg, clock, logger_);
  ASSERT_TRUE(e.Start(&err, /*start_collectors=*/false)) << err;
  const int port = e.port();
  auto status = [&](const std::string& password) {
    return HttpGet(port, "/healthz", {{"Authorization", BasicHeader("alice", password)}}).status;
  };
  EXPECT_EQ(status("old-secret"), 200);

  write("basic_auth_users:\n  alice: " + BcryptOf("new-secret") + "\n");
  ASSERT_TRUE(e.ReloadWebConfig(&err)) << err;
  EXPECT_EQ(status("old-secret"), 401);
  EXPECT_EQ(status("new-secret"), 200);

  write("basic_auth_users:\n  alice: not-a-bcrypt-hash\n");
  EXPECT_FALSE(e.ReloadWebConfig(&err));
  EXPECT_NE(err.find("--web.config.file: "), std::string::npos) << err;
  EXPECT_NE(err.find("basic_auth_users: user \"alice\""), std::string::npos) << err;
  EXPECT_EQ(status("new-secret"), 200);

  write("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n");
  EXPECT_FALSE(e.ReloadWebConfig(&err));
  EXPECT_NE(err.find("needs a restart"), std::string::npos) << err;
  EXPECT_EQ(HttpGet(port, "/healthz").status, 401);  // still plain HTTP with basic auth
  e.Stop();
}

}  // namespace
}  // namespace aee
