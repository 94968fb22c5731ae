#include "exporter/workspace_tokens.h"

#include <yaml-cpp/yaml.h>

#include <cctype>

#include "core/web_config.h"

namespace aee {
namespace {

std::string Line(const YAML::Node& n) {
  return n.Mark().line >= 0 ? "line " + std::to_string(n.Mark().line + 1) + ": " : "";
}

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

bool ParseWorkspaceTokens(const std::string& yaml_text, std::vector<WorkspaceToken>* out, std::string* error) {
  std::vector<WorkspaceToken> tokens;
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root.IsMap() || !root["tokens"] || !root["tokens"].IsSequence()) {
      *error = "want a mapping with a \"tokens\" list";
      return false;
    }
    for (const auto& kv : root) {
      if (kv.first.as<std::string>() != "tokens") {
        *error = Line(kv.first) + "unknown field \"" + kv.first.as<std::string>() + "\"";
        return false;
      }
    }
    std::set<std::string> names, hashes;
    for (const auto& t : root["tokens"]) {
      if (!t.IsMap()) {
        *error = Line(t) + "each token must be a mapping with name, sha256 and workspaces";
        return false;
      }
      for (const auto& kv : t) {
        std::string key = kv.first.as<std::string>();
        if (key != "name" && key != "sha256" && key != "workspaces") {
          *error = Line(kv.first) + "unknown field \"" + key + "\" (want name, sha256, workspaces)";
          return false;
        }
      }
      WorkspaceToken tok;
      if (!t["name"] || !t["name"].IsScalar() || t["name"].as<std::string>().empty()) {
        *error = Line(t) + "token without a name";
        return false;
      }
      tok.name = t["name"].as<std::string>();
      if (!t["sha256"] || !t["sha256"].IsScalar() || !IsHex64(t["sha256"].as<std::string>())) {
        *error = Line(t) + "token \"" + tok.name + "\": sha256 must be 64 hex digits (sha256sum of the bearer token)";
        return false;
      }
      tok.sha256 = t["sha256"].as<std::string>();
      for (char& c : tok.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!t["workspaces"] || !t["workspaces"].IsSequence() || t["workspaces"].size() == 0) {
        *error = Line(t) + "token \"" + tok.name + "\": workspaces must be a non-empty list";
        return false;
      }
      for (const auto& w : t["workspaces"]) {
        if (!w.IsScalar() || w.as<std::string>().empty()) {
          *error = Line(w) + "token \"" + tok.name + "\": workspace ids must be non-empty strings";
          return false;
        }
        tok.workspaces.insert(w.as<std::string>());
      }
      if (tok.workspaces.count("*") != 0) {
        if (tok.workspaces.size() != 1) {
          *error = Line(t) + "token \"" + tok.name + "\": \"*\" (every workspace) cannot be combined with workspace ids";
          return false;
        }
        tok.workspaces.clear();
        tok.all_workspaces = true;
      }
      if (!names.insert(tok.name).second) {
        *error = Line(t) + "duplicate token name \"" + tok.name + "\"";
        return false;
      }
      if (!hashes.insert(tok.sha256).second) {
        *error = Line(t) + "token \"" + tok.name + "\": the same sha256 appears twice";
        return false;
      }
      tokens.push_back(std::move(tok));
    }
  } catch (const YAML::Exception& e) {
    *error = std::string("yaml: ") + e.what();
    return false;
  }
  *out = std::move(tokens);
  return true;
}

bool WorkspaceTokenStore::Load(std::string* error) {
  std::string text;
  if (!ReadConfigFile(path_, "a tokens file", &text, error)) return false;
  std::vector<WorkspaceToken> parsed;
  if (!ParseWorkspaceTokens(text, &parsed, error)) return false;
  auto next = std::make_shared<std::vector<std::shared_ptr<const WorkspaceToken>>>();
  for (auto& t : parsed) next->push_back(std::make_shared<const WorkspaceToken>(std::move(t)));
  std::lock_guard<std::mutex> lock(mu_);
  tokens_ = std::move(next);
  return true;
}

std::shared_ptr<const WorkspaceToken> WorkspaceTokenStore::Find(std::string_view bearer) const {
  decltype(tokens_) tokens;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tokens = tokens_;
  }
  if (!tokens) return nullptr;
  const std::string digest = Sha256Hex(bearer);
  std::shared_ptr<const WorkspaceToken> found;
  // No early exit: the time taken does not tell which entry (if any) matched.
  for (const auto& t : *tokens) {
    if (ConstantTimeEquals(digest, t->sha256)) found = t;
  }
  return found;
}

size_t WorkspaceTokenStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tokens_ ? tokens_->size() : 0;
}

bool IsTenantFreeSelfMetric(std::string_view name) {
  // Each says how the exporter is, never how much work the platform did: counts of
  // rows, ledger entries, notifications, cycle times or the process' CPU would let
  // one tenant estimate the others' combined volume (docs/security.md).
  static constexpr std::string_view kAllowed[] = {
      "agent_exporter_build_info",
      "agent_exporter_collector_up",
      "agent_exporter_collector_errors_total",
      "agent_exporter_collector_interval_seconds",
      "agent_exporter_collector_last_success_timestamp_seconds",
      "agent_exporter_collector_pending_work",
      "agent_exporter_notify_listener_up",
  };
  for (std::string_view allowed : kAllowed) {
    if (name == allowed) return true;
  }
  return false;
}

std::vector<prometheus::MetricFamily> FilterForWorkspaces(std::vector<prometheus::MetricFamily> families,
                                                          const std::set<std::string, std::less<>>& workspaces) {
  std::vector<prometheus::MetricFamily> out;
  for (auto& f : families) {
    if (IsTenantFreeSelfMetric(f.name)) {
      out.push_back(std::move(f));
      continue;
    }
    std::vector<prometheus::ClientMetric> kept;
    for (auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == "workspace_id") {
          if (workspaces.count(l.value) != 0) kept.push_back(std::move(m));
          break;
        }
      }
    }
    if (kept.empty()) continue;
    f.metric = std::move(kept);
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace aee
