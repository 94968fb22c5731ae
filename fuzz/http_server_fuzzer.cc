// Raw bytes as a request to the real HTTP front, in process: the Exporter (routes,
// bearer tokens, basic auth, gzip) behind civetweb on 127.0.0.1, collectors not
// started (no database needed). Each input is sent on a fresh connection, which
// is then half-closed.
//
// Invariants: the server finishes with the connection within a few seconds; what
// it sends back is an HTTP/1.x response; no handler fails (our 500); afterwards a
// normal request is still answered 200.
//
// Note: Debian's civetweb is not instrumented, so coverage feedback comes from our
// code (routing, admission, handlers) only; civetweb's own parser is exercised
// blind, with ASan watching the heap it allocates through malloc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "core/web_config.h"
#include "exporter/app.h"
#include "exporter/config.h"
#include "fuzz/fuzz_support.h"
#include "tests/support/http_client.h"

namespace {

using aee::fuzz::Check;
using Clock = std::chrono::steady_clock;

aee::SystemClock g_clock;
std::unique_ptr<aee::Logger> g_logger;
std::unique_ptr<aee::Exporter> g_exporter;
int g_port = 0;

int Connect() { return aee::testing::ConnectLoopback(g_port); }

// Sends request, half-closes, reads until the server closes. false on timeout.
bool Exchange(std::string_view request, std::string* response, std::chrono::milliseconds limit) {
  int fd = Connect();
  if (fd < 0) return false;
  const auto deadline = Clock::now() + limit;
  for (size_t off = 0; off < request.size();) {
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (bad request, too large): fine
    off += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  bool done = false;
  char buf[16384];
  while (!done) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) done = true;  // EOF or reset: the server is finished with us
    else if (response->size() < (1u << 20)) response->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return done;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  signal(SIGPIPE, SIG_IGN);
  const std::string& dir = aee::fuzz::ScratchDir();
  const std::string web = aee::fuzz::WriteFile(
      dir, "web.yml",
      "basic_auth_users:\n  prometheus: " + aee::fuzz::BcryptCost4("s3cret") +
          "\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n");
  const std::string tokens = aee::fuzz::WriteFile(
      dir, "tokens.yml", "tokens:\n  - name: team-a\n    sha256: " + aee::Sha256Hex("alpha-token") +
                             "\n    workspaces: [\"11111111-1111-1111-1111-111111111111\"]\n");
  aee::Config cfg;
  std::string error;
  const std::vector<std::string> args = {
      "--web.listen-address=127.0.0.1:0", "--web.config.file=" + web, "--web.workspace-tokens-file=" + tokens,
      "--web.rate-limit=0",  // every request comes from 127.0.0.1
      "--web.max-connections=4", "--web.request-timeout=1s", "--db.url=postgresql://fuzz@127.0.0.1:1/none",
      "--log.level=error"};
  if (!aee::ParseFlags(args, [](const char*) -> const char* { return nullptr; }, &cfg, &error)) {
    std::fprintf(stderr, "flags: %s\n", error.c_str());
    std::abort();
  }
  g_logger = std::make_unique<aee::Logger>(cfg.log_level, cfg.log_format);
  g_exporter = std::make_unique<aee::Exporter>(cfg, g_clock, *g_logger);
  if (!g_exporter->Start(&error, /*start_collectors=*/false)) {
    std::fprintf(stderr, "start: %s\n", error.c_str());
    std::abort();
  }
  g_port = g_exporter->port();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string response;
  Check(Exchange(input, &response, std::chrono::milliseconds(5000)), "the server finishes with a connection in 5 s",
        input);
  // "HTTP/", not "HTTP/1.": civetweb 1.15 answers a malformed version ("HTTP/1.\x82")
  // with a 400 whose status line echoes the request head (docs/security.md, Fuzzing).
  Check(response.empty() || response.rfind("HTTP/", 0) == 0, "the server answers HTTP: " + response.substr(0, 200),
        input);
  Check(response.find("\r\n\r\ninternal error\n") == std::string::npos, "no handler failed (500)", input);
  std::string health;
  const auto asked = Clock::now();
  // Within Prometheus' default scrape timeout (10 s): the claim of docs/security.md,
  // "Slow clients". A slower answer than 1 s is reported with the input before it.
  const bool answered =
      Exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alpha-token\r\nConnection: close\r\n\r\n",
               &health, std::chrono::milliseconds(10000));
  const double seconds = std::chrono::duration<double>(Clock::now() - asked).count();
  if (seconds > 1.0) std::fprintf(stderr, "slow /healthz: %.2f s after an input of %zu bytes\n", seconds, input.size());
  Check(answered, "a normal request is answered within 10 s after the input", input);
  Check(health.rfind("HTTP/1.1 200 ", 0) == 0, "the normal request gets 200: " + health.substr(0, 40), input);
  return 0;
}
