#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>

namespace aee {

/// One scoped bearer token of --web.workspace-tokens-file.
struct WorkspaceToken {
  std::string name;    // for logs; never the token
  std::string sha256;  // lower-case hex of the bearer token
  std::set<std::string, std::less<>> workspaces;
  /// workspaces: ["*"]: an operator token (Prometheus itself) that sees everything.
  bool all_workspaces = false;
};

/// Parses the tokens file (YAML: tokens: [{name, sha256, workspaces}]).
bool ParseWorkspaceTokens(const std::string& yaml_text, std::vector<WorkspaceToken>* out, std::string* error);

/// The current token set, replaced atomically on reload (SIGHUP) while requests
/// keep reading the previous one.
class WorkspaceTokenStore {
 public:
  explicit WorkspaceTokenStore(std::string path) : path_(std::move(path)) {}
  /// Re-reads the file; on error keeps the previous tokens and returns false.
  bool Load(std::string* error);
  /// The token whose SHA-256 matches bearer, compared in constant time against
  /// every entry; nullptr when none does.
  std::shared_ptr<const WorkspaceToken> Find(std::string_view bearer) const;
  size_t size() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<std::shared_ptr<const WorkspaceToken>>> tokens_;
};

/// Whether a family is exporter self-telemetry that carries no tenant data (the
/// collectors' health and configuration), shown to every token. Self-metrics that
/// grow with the platform's volume (rows read, ledgers, notifications, cycle
/// durations, process_*) are not.
bool IsTenantFreeSelfMetric(std::string_view name);

/// Keeps, for a scoped token, only series whose workspace_id is in workspaces, plus
/// the tenant-free self-metrics. Every other series, including any family without workspace_id
/// (platform-wide aggregates such as agent_db_* or shared worker pools), is dropped:
/// nothing aggregated across workspaces reaches a workspace token.
std::vector<prometheus::MetricFamily> FilterForWorkspaces(std::vector<prometheus::MetricFamily> families,
                                                          const std::set<std::string, std::less<>>& workspaces);

}  // namespace aee
