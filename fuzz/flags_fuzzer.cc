// Command-line flags and durations: ParseFlags on an argument list (one argument
// per input line), ParseDuration/FormatDuration on every argument.
//
// Invariants: a rejected command line has a non-empty one-line error naming a flag
// (or the unexpected argument); an accepted one holds values inside the documented
// ranges, a listen address the HTTP server can bind and no directory as the web
// config; every parsed duration
// formats back to text that parses to the same duration.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/http_server.h"
#include "exporter/config.h"
#include "fuzz/fuzz_support.h"

namespace {

using aee::fuzz::Check;
using std::chrono::milliseconds;

// The flags that name files. The fuzzer must not make the parser read arbitrary
// paths (/dev/zero, a FIFO): their values are replaced by one of these fixtures.
constexpr std::string_view kFileFlags[] = {"web.config.file", "web.workspace-tokens-file", "db.url-file"};
std::vector<std::string> g_fixtures;

void MakeFixtures() {
  const std::string& dir = aee::fuzz::ScratchDir();
  aee::fuzz::WriteSelfSignedCert(dir, "server");
  const std::string hash = aee::fuzz::BcryptCost4("secret");
  g_fixtures = {
      aee::fuzz::WriteFile(dir, "web-basic.yml", "basic_auth_users:\n  prometheus: " + hash + "\n"),
      aee::fuzz::WriteFile(dir, "web-tls.yml", "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"),
      aee::fuzz::WriteFile(dir, "web-bad.yml", "tls_server_config:\n  cert_file: missing.crt\n"),
      aee::fuzz::WriteFile(dir, "tokens.yml",
                           "tokens:\n  - name: a\n    sha256: " + std::string(64, 'a') + "\n    workspaces: [w1]\n"),
      aee::fuzz::WriteFile(dir, "tokens-bad.yml", "tokens: {}\n"),
      aee::fuzz::WriteFile(dir, "db-url", "postgresql://exporter:pw@db.example/platform\n"),
      aee::fuzz::WriteFile(dir, "empty", ""),
      dir,                    // a directory
      dir + "/missing.yml",  // does not exist
  };
}

std::string SafePath(const std::string& value) {
  for (const auto& f : g_fixtures) {
    if (f.size() >= value.size() && !value.empty() && f.compare(f.size() - value.size(), value.size(), value) == 0) return f;
  }
  return g_fixtures[std::hash<std::string>()(value) % g_fixtures.size()];
}

// Mirrors how the parser finds a flag's value: "--name=value" or "--name value".
void SandboxFilePaths(std::vector<std::string>* args) {
  for (size_t i = 0; i < args->size(); ++i) {
    std::string& arg = (*args)[i];
    if (arg.rfind("--", 0) != 0) continue;
    size_t eq = arg.find('=');
    std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (std::find(std::begin(kFileFlags), std::end(kFileFlags), name) == std::end(kFileFlags)) continue;
    if (eq != std::string::npos) {
      arg = "--" + name + "=" + SafePath(arg.substr(eq + 1));
    } else if (i + 1 < args->size()) {
      (*args)[i + 1] = SafePath((*args)[i + 1]);
    }
  }
}

void CheckDurationRoundTrip(std::string_view text, std::string_view input) {
  milliseconds d{-1};
  if (!aee::ParseDuration(text, &d)) return;
  Check(d.count() >= 0 && d <= milliseconds(365LL * 86'400'000), "ParseDuration result within 0..365d", input);
  const std::string formatted = aee::FormatDuration(d);
  milliseconds again{-1};
  Check(aee::ParseDuration(formatted, &again), "FormatDuration output parses: " + formatted, input);
  Check(again == d, "duration round trip: " + std::string(text) + " -> " + formatted, input);
  Check(aee::FormatDuration(again) == formatted, "FormatDuration is canonical", input);
}

void CheckDurationValue(milliseconds d, std::string_view input) {
  milliseconds again{-1};
  Check(aee::ParseDuration(aee::FormatDuration(d), &again) && again == d, "configured duration round trip", input);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  MakeFixtures();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args = aee::fuzz::SplitLines(input);
  for (const auto& a : args) CheckDurationRoundTrip(a, input);
  SandboxFilePaths(&args);

  auto env = [](const char* name) -> const char* {
    return std::string_view(name) == "AGENT_EXPORTER_DB_URL" ? "postgresql://env@db.example/platform" : nullptr;
  };
  aee::Config cfg;
  std::string error;
  if (!aee::ParseFlags(args, env, &cfg, &error)) {
    Check(!error.empty(), "rejected flags come with an error", input);
    Check(error.find('\n') == std::string::npos, "the error is one line: " + error, input);
    Check(error.rfind("--", 0) == 0 || error.rfind("unexpected argument", 0) == 0,
          "the error names the flag: " + error, input);
    return 0;
  }
  Check(error.empty(), "an accepted command line leaves the error alone", input);
  std::string ports;
  Check(aee::HttpServer::ToCivetwebPorts(cfg.listen_address, &ports),
        "an accepted --web.listen-address can be bound: " + cfg.listen_address, input);
  Check(ports.find(',') == std::string::npos, "one listen address, not a civetweb list: " + ports, input);
  Check(cfg.telemetry_path.size() > 1 && cfg.telemetry_path.front() == '/', "telemetry path starts with /", input);
  Check(cfg.rate_limit == 0 || (cfg.rate_limit >= 0.001 && cfg.rate_limit <= 1e6), "rate limit 0 or in 0.001..1e6", input);
  Check(cfg.rate_limit_burst >= 1 && cfg.rate_limit_burst <= 1'000'000, "burst in 1..1e6", input);
  Check(cfg.max_connections >= 4 && cfg.max_connections <= 4096, "max connections in 4..4096", input);
  Check(cfg.request_timeout >= milliseconds(100) && cfg.request_timeout <= milliseconds(600'000),
        "request timeout in 100ms..10m", input);
  Check(!cfg.db_schema.empty(), "schema not empty", input);
  for (const auto& [name, schedule] : cfg.collectors) {
    Check(schedule.interval >= milliseconds(10), "collector interval >= 10ms: " + name, input);
    Check(schedule.timeout > milliseconds(0), "collector timeout > 0: " + name, input);
    CheckDurationValue(schedule.interval, input);
    CheckDurationValue(schedule.timeout, input);
  }
  CheckDurationValue(cfg.request_timeout, input);
  CheckDurationValue(cfg.collector_options.runs.lateness, input);
  CheckDurationValue(cfg.collector_options.workers.stale_after, input);
  Check(cfg.collector_options.workers.stale_after > milliseconds(0), "stale-after > 0", input);
  // A directory reads as an empty file: it must not pass as "no TLS, no auth".
  Check(cfg.web_config_file.empty() || cfg.web_config_file != aee::fuzz::ScratchDir(),
        "--web.config.file naming a directory is rejected", input);
  if (cfg.web.tls) Check(!cfg.web.tls->cert_file.empty() && !cfg.web.tls->key_file.empty(), "TLS has a key pair", input);
  return 0;
}
