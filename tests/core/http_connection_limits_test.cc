// Issue #17's connection attacks on the HTTP front, in-process: one client address
// holding every worker with keep-alive connections or half-sent requests must not
// stop another address from being answered at once, and a rate-limited client
// gives its worker back.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/http_server.h"
#include "tests/support/http_client.h"

namespace aee {
namespace {

using testing::ConnectLoopback;
using testing::HttpGet;

constexpr const char* kAttacker = "127.0.0.1";
constexpr const char* kScraper = "127.0.0.2";

class HttpConnectionLimitsTest : public ::testing::Test {
 protected:
  // Few workers and a long request timeout: without a per-client cap, any of the
  // attacks below makes the scrape wait the whole timeout (or fail).
  std::unique_ptr<HttpServer> Start(int per_client_cap, double rate_limit = 0) {
    HttpOptions opts;
    opts.listen_address = "127.0.0.1:0";
    opts.threads = 16;
    opts.request_timeout_ms = 20000;
    opts.max_connections_per_client = per_client_cap;
    opts.rate_limit = rate_limit;
    opts.rate_limit_burst = 1;
    auto s = std::make_unique<HttpServer>(opts, logger_);
    s->Handle("/metrics", [](const HttpRequest&) {
      HttpResponse r;
      r.body = "up 1\n";
      return r;
    });
    std::string err;
    EXPECT_TRUE(s->Start(&err)) << err;
    return s;
  }

  // A scrape from another address: its status and how long it took.
  std::pair<int, double> ScrapeFromAnotherAddress(int port) {
    const auto start = std::chrono::steady_clock::now();
    int status = 0;
    try {
      status = HttpGet(port, "/metrics", {}, "GET", kScraper).status;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "scrape from " << kScraper << " failed: " << e.what();
    }
    return {status, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
  }

  static void CloseAll(std::vector<int>& fds) {
    for (int fd : fds) close(fd);
    fds.clear();
  }

  Logger logger_{LogLevel::kWarn, LogFormat::kLogfmt};
};

// Attack 2 of #17: keep-alive connections that each made a request and stay open
// (a worker each, until the keep-alive timeout) from one address.
TEST_F(HttpConnectionLimitsTest, KeepAliveConnectionsOfOneAddressLeaveWorkersForAnother) {
  auto s = Start(/*per_client_cap=*/4);
  const int port = s->Ports()[0];
  std::vector<int> fds;
  for (int i = 0; i < 40; ++i) {
    const int fd = ConnectLoopback(port, kAttacker);
    ASSERT_GE(fd, 0);
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
    fds.push_back(fd);
  }
  const auto [status, seconds] = ScrapeFromAnotherAddress(port);
  EXPECT_EQ(status, 200);
  // Without the cap the scrape waits for a keep-alive timeout (20 s here).
  EXPECT_LT(seconds, 5.0);
  std::printf("[ figures  ] scrape behind 40 keep-alive connections of one address: %.3f s\n", seconds);
  EXPECT_GE(s->connection_stats().refused_per_client, 20u);
  CloseAll(fds);
}

// Attack 3 of #17 (slowloris): half-sent requests from one address.
TEST_F(HttpConnectionLimitsTest, HalfSentRequestsOfOneAddressLeaveWorkersForAnother) {
  auto s = Start(/*per_client_cap=*/4);
  const int port = s->Ports()[0];
  std::vector<int> fds;
  for (int i = 0; i < 100; ++i) {
    const int fd = ConnectLoopback(port, kAttacker);
    ASSERT_GE(fd, 0);
    const char partial[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    ASSERT_GT(write(fd, partial, sizeof partial - 1), 0);
    fds.push_back(fd);
  }
  const auto [status, seconds] = ScrapeFromAnotherAddress(port);
  EXPECT_EQ(status, 200);
  EXPECT_LT(seconds, 5.0);
  std::printf("[ figures  ] scrape behind 100 half-sent requests of one address: %.3f s\n", seconds);
  CloseAll(fds);
}

// The cap is what protects: with it off, the same attack holds every worker.
TEST_F(HttpConnectionLimitsTest, WithoutTheCapOneAddressHoldsEveryWorker) {
  auto s = Start(/*per_client_cap=*/0);
  const int port = s->Ports()[0];
  std::vector<int> fds;
  for (int i = 0; i < 16; ++i) {
    const int fd = ConnectLoopback(port, kAttacker);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  // Give the workers time to pick the idle connections up.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int fd = ConnectLoopback(port, kScraper);
  ASSERT_GE(fd, 0);
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  pollfd p{fd, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 1500), 0) << "answered although every worker was held";
  close(fd);
  EXPECT_EQ(s->connection_stats().refused_per_client, 0u);
  CloseAll(fds);
}

// A 429 ends the keep-alive connection, so a throttled client holds no worker
// while it waits for its Retry-After.
TEST_F(HttpConnectionLimitsTest, ARateLimitedRequestClosesItsConnection) {
  auto s = Start(/*per_client_cap=*/0, /*rate_limit=*/0.01);
  const int port = s->Ports()[0];
  const int fd = ConnectLoopback(port, kAttacker);
  ASSERT_GE(fd, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::string req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string raw;
  char buf[4096];
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  while (raw.find("up 1\n") == std::string::npos) {
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << raw;
    raw.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(raw.rfind("HTTP/1.1 200", 0), 0u) << raw;
  raw.clear();
  ASSERT_EQ(send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) raw.append(buf, static_cast<size_t>(n));
  EXPECT_EQ(n, 0) << "the connection stayed open after the 429 (recv: " << n << ")";
  EXPECT_EQ(raw.rfind("HTTP/1.1 429", 0), 0u) << raw;
  EXPECT_NE(raw.find("Connection: close"), std::string::npos) << raw;
  close(fd);
  // Counted just after the shutdown the client has already seen.
  for (int i = 0; i < 200 && s->connection_stats().closed_after_429 == 0; ++i) usleep(10'000);
  EXPECT_EQ(s->connection_stats().closed_after_429, 1u);
}

}  // namespace
}  // namespace aee
