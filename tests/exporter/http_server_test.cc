// The HTTP front in-process: TLS under OpenSSL 3 (the civetweb 1334 crash), basic
// auth, rate limits and slow clients.
#include "exporter/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

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
                                 TLS1_2_VERSION, TLS1_3_VERSION};
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
  auto s = Start(HttpOptions{});
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

}  // namespace
}  // namespace aee
