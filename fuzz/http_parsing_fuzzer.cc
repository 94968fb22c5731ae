// The pure functions that interpret request data. The first byte picks one, the
// rest is its input:
//   0 Accept-Encoding (AcceptsGzip)       3 --web.listen-address -> civetweb ports
//   1 base64 (Base64Decode)               4 bearer token lookup (WorkspaceTokenStore::Find)
//   2 Authorization: Basic (bcrypt check) 5 per-client rate limiter (token buckets)
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/clock.h"
#include "core/exposition.h"
#include "core/http_server.h"
#include "core/rate_limiter.h"
#include "core/web_config.h"
#include "exporter/workspace_tokens.h"
#include "fuzz/fuzz_support.h"
#include "tests/support/fake_clock.h"

namespace {

using aee::fuzz::Check;

// Metamorphic checks: adding an item that refuses gzip, or one that is not gzip,
// changes nothing; adding plain gzip always allows it.
void AcceptEncoding(std::string_view s, std::string_view input) {
  const bool accepts = aee::AcceptsGzip(s);
  const std::string str(s);
  Check(aee::AcceptsGzip(str + ",gzip"), "\", gzip\" appended allows gzip", input);
  Check(aee::AcceptsGzip(str + ", identity") == accepts, "appending identity changes nothing", input);
  Check(aee::AcceptsGzip(str + ",gzip;q=0") == accepts, "appending gzip;q=0 changes nothing", input);
  if (accepts) Check(str.find("gzip") != std::string::npos || str.find('*') != std::string::npos, "gzip or * named", input);
}

void Base64(std::string_view s, std::string_view input) {
  std::string decoded = "sentinel";
  if (aee::Base64Decode(s, &decoded)) {
    size_t pad = 0;
    while (pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
    Check(s.size() % 4 == 0 && pad <= 2, "accepted base64 is padded to 4", input);
    Check(decoded.size() == s.size() / 4 * 3 - pad, "decoded size matches padding", input);
    std::string again;
    Check(aee::Base64Decode(aee::fuzz::Base64Encode(decoded), &again) && again == decoded, "re-encoding round trips",
          input);
  }
  std::string round;
  Check(aee::Base64Decode(aee::fuzz::Base64Encode(s), &round) && round == s, "encode then decode is identity", input);
}

aee::BasicAuthenticator& Authenticator() {
  static aee::BasicAuthenticator auth({{"prometheus", aee::fuzz::BcryptCost4("s3cret")}});
  return auth;
}

// The header as sent and "Basic base64(bytes)": admitted exactly for the right
// user and password, whatever else the header holds.
void BasicAuth(std::string_view s, std::string_view input) {
  auto expected = [](std::string_view header) {
    if (header.substr(0, 6) != "Basic " || header.size() == 6) return false;
    std::string creds;
    return aee::Base64Decode(header.substr(6), &creds) && creds == "prometheus:s3cret";
  };
  Check(Authenticator().Check(s) == expected(s), "basic auth decision (raw header)", input);
  const std::string built = "Basic " + aee::fuzz::Base64Encode(s);
  Check(Authenticator().Check(built) == (s == "prometheus:s3cret"), "basic auth decision (encoded credentials)", input);
}

void ListenAddress(std::string_view s, std::string_view input) {
  std::string out;
  if (!aee::HttpServer::ToCivetwebPorts(std::string(s), &out)) return;
  const std::string port(s.substr(s.rfind(':') + 1));
  Check(!port.empty() && out.size() >= port.size() && out.compare(out.size() - port.size(), port.size(), port) == 0,
        "civetweb ports end with the port", input);
}

aee::WorkspaceTokenStore& Tokens() {
  static std::unique_ptr<aee::WorkspaceTokenStore> store = [] {
    std::string yaml = "tokens:\n";
    for (const char* bearer : {"alpha-token", "beta-token", ""}) {
      yaml += "  - name: n" + std::to_string(yaml.size()) + "\n    sha256: " + aee::Sha256Hex(bearer) +
              "\n    workspaces: [w]\n";
    }
    std::string path = aee::fuzz::WriteFile(aee::fuzz::ScratchDir(), "tokens.yml", yaml);
    auto s = std::make_unique<aee::WorkspaceTokenStore>(path);
    std::string error;
    if (!s->Load(&error)) std::abort();
    return s;
  }();
  return *store;
}

void Bearer(std::string_view s, std::string_view input) {
  const bool known = s == "alpha-token" || s == "beta-token" || s.empty();
  auto found = Tokens().Find(s);
  Check(static_cast<bool>(found) == known, "a token is found exactly for its bearer", input);
  if (found) Check(found->sha256 == aee::Sha256Hex(s), "the found token's digest matches", input);
}

// Bytes drive a fake clock and a few clients. A client never gets more than its
// burst plus what the rate refilled; a refusal says when to retry (>= 1 s).
void RateLimit(std::string_view s, std::string_view input) {
  if (s.size() < 9) return;
  double rate;
  std::memcpy(&rate, s.data(), sizeof rate);
  // The values --web.rate-limit accepts (below 0.001/s, Retry-After overflowed int).
  if (!std::isfinite(rate) || !(rate == 0 || (rate >= 0.001 && rate <= 1e6))) return;
  const int burst = 1 + static_cast<unsigned char>(s[8]) % 32;
  s.remove_prefix(9);
  aee::FakeClock clock(aee::Clock::time_point(std::chrono::seconds(1'700'000'000)));
  aee::RateLimiter limiter(rate, burst, clock, 3);
  std::map<std::string, int> allowed;
  std::set<std::string> seen;
  double elapsed = 0;
  for (unsigned char op : s) {
    if (op & 0x80) {
      const auto step = std::chrono::microseconds((op & 0x7f) * 37'000);
      clock.Advance(step);
      elapsed += std::chrono::duration<double>(step).count();
      continue;
    }
    const std::string client = "10.0.0." + std::to_string(op % 5);
    seen.insert(client);
    int retry = 0;
    if (limiter.Allow(client, &retry)) {
      ++allowed[client];
    } else {
      Check(limiter.enabled(), "a disabled limiter allows everything", input);
      Check(retry >= 1, "Retry-After is at least 1 s", input);
    }
  }
  if (!limiter.enabled()) return;
  // Evicted clients start over with a full bucket, so bound by the ops seen instead
  // when clients outnumber the buckets.
  for (const auto& [client, n] : allowed) {
    (void)client;
    Check(n <= static_cast<int>(s.size()), "no more grants than requests", input);
  }
  if (seen.size() <= 3) {
    for (const auto& [client, n] : allowed) {
      (void)client;
      Check(n <= burst + static_cast<int>(std::ceil(elapsed * rate)) + 1, "grants within burst + rate x time", input);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Authenticator();
  Tokens();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string_view s = input.substr(1);
  switch (data[0] % 6) {
    case 0: AcceptEncoding(s, input); break;
    case 1: Base64(s, input); break;
    case 2: BasicAuth(s, input); break;
    case 3: ListenAddress(s, input); break;
    case 4: Bearer(s, input); break;
    case 5: RateLimit(s, input); break;
  }
  return 0;
}
