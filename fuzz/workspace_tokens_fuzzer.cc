// The workspace tokens file (--web.workspace-tokens-file): ParseWorkspaceTokens on
// YAML text, then the store that serves it (Load from a file, Find by bearer).
//
// Invariants: a rejected file has a non-empty error and leaves the output alone;
// an accepted one has unique non-empty names, unique lower-case 64-hex digests and
// non-empty lists of non-empty workspace ids; the store loads the same file and
// Find returns only a token whose digest is the SHA-256 of the bearer.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "core/web_config.h"
#include "exporter/workspace_tokens.h"
#include "fuzz/fuzz_support.h"

namespace {

using aee::fuzz::Check;

bool LowerHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<aee::WorkspaceToken> tokens{aee::WorkspaceToken{"sentinel", "", {}}};
  std::string error;
  if (!aee::ParseWorkspaceTokens(input, &tokens, &error)) {
    Check(!error.empty(), "a rejected tokens file comes with an error", input);
    Check(tokens.size() == 1 && tokens[0].name == "sentinel", "a rejected file leaves *out alone", input);
    return 0;
  }
  Check(error.empty(), "an accepted tokens file leaves the error alone", input);
  std::set<std::string> names, digests;
  for (const auto& t : tokens) {
    Check(!t.name.empty(), "tokens have names", input);
    Check(LowerHex64(t.sha256), "digests are 64 lower-case hex digits", input);
    Check(!t.workspaces.empty(), "tokens have workspaces", input);
    for (const auto& w : t.workspaces) Check(!w.empty(), "workspace ids are not empty", input);
    Check(names.insert(t.name).second, "names are unique", input);
    Check(digests.insert(t.sha256).second, "digests are unique", input);
  }
  // The store reads the same bytes from disk, as on start-up and SIGHUP.
  static const std::string path = aee::fuzz::ScratchDir() + "/tokens.yml";
  aee::fuzz::WriteFile(aee::fuzz::ScratchDir(), "tokens.yml", input);
  aee::WorkspaceTokenStore store(path);
  Check(store.Load(&error), "the store loads what the parser accepts", input);
  Check(store.size() == tokens.size(), "the store holds every token", input);
  // The input itself and each token name as bearers: a hit must be a real match.
  for (const std::string& bearer : {input, tokens.empty() ? std::string() : tokens.front().name}) {
    if (auto found = store.Find(bearer)) {
      Check(found->sha256 == aee::Sha256Hex(bearer), "Find returns only the token whose digest matches", input);
    }
  }
  return 0;
}
