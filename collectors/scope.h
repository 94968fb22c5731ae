#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <span>
#include <string>
#include <string_view>

#include "collectors/collector.h"
#include "collectors/live_view.h"

namespace aee {

/// The documented, reproducible hash of a workspace: the first 4 bytes of the MD5
/// of the canonical lowercase text of the uuid, read as a big-endian unsigned
/// 32-bit integer. In SQL: ('x' || substr(md5(id::text), 1, 8))::bit(32)::bigint;
/// in a shell: printf %s "$id" | md5sum | cut -c1-8.
std::uint32_t WorkspaceShardHash(std::string_view workspace_id);

/// The shard owning workspace_id among count shards; "" (no workspace) is shard 0.
int ShardOfWorkspace(std::string_view workspace_id, int count);

/// SQL condition keeping the rows of shard's workspaces, where column is a uuid
/// (or text) workspace column: "TRUE" when not sharded; NULL belongs to shard 0.
/// It computes the hash of every row it tests: use it on the workspaces table
/// itself and on reads of a few rows (announced ids, workers); WorkspaceShardSql on
/// large reads.
std::string ShardSql(std::string_view column, const ShardOptions& shard);

/// The ids of shard's workspaces: "SELECT w.id FROM <quoted_schema>.workspaces w
/// WHERE <ShardSql(w.id)>", the hash computed once per workspace.
std::string OwnedWorkspacesSql(std::string_view quoted_schema, const ShardOptions& shard);

/// Keeps exactly the rows ShardSql(column, shard) keeps, where column is a uuid
/// workspace column (like workspaces.id), computing the hash once per workspace
/// instead of once per row: a row whose workspace is in quoted_schema.workspaces is
/// kept when that workspace is the shard's (EXISTS over owned_relation, a relation
/// with an id column holding OwnedWorkspacesSql's rows, or that query inline when
/// empty); a row whose workspace_id has no workspaces row (no foreign key is
/// required) falls back to its own hash, so it still lands on exactly one shard.
/// PostgreSQL hashes each EXISTS once per statement (a hashed SubPlan over the
/// workspaces) when many rows are tested, or probes the primary key per row when few
/// are. "TRUE" when not sharded; NULL belongs to shard 0.
std::string WorkspaceShardSql(std::string_view column, std::string_view quoted_schema, const ShardOptions& shard,
                              std::string_view owned_relation = {});

/// --collector.workspaces.include / .exclude: regular expressions (ECMAScript
/// syntax, anchored at both ends as Prometheus anchors its regexes) matched against
/// a workspace's id or its name. Empty = no list.
class WorkspaceFilter {
 public:
  WorkspaceFilter() = default;
  /// Throws std::regex_error naming nothing: callers say which flag was wrong.
  WorkspaceFilter(const std::string& include, const std::string& exclude);
  /// True when either list is set (the names must then be known).
  bool active() const { return has_include_ || has_exclude_; }
  /// Whether a workspace passes: matches include (when set) and not exclude.
  bool Admits(std::string_view id, std::string_view name) const;

 private:
  bool has_include_ = false;
  bool has_exclude_ = false;
  std::regex include_;
  std::regex exclude_;
};

/// Checks a regular expression as WorkspaceFilter compiles it; false with *error
/// set when it is invalid.
bool ValidWorkspaceRegex(const std::string& re, std::string* error);

/// --collector.workspaces.include and .exclude.
std::span<const CollectorFlag> WorkspaceFilterFlags();

/// Everything that decides which workspaces' series an exporter exposes.
struct ScopeOptions {
  ShardOptions shard;
  std::string include;  // --collector.workspaces.include
  std::string exclude;  // --collector.workspaces.exclude
};

/// Workspace names for WorkspaceFilter, shared by the collectors of one process and
/// re-read from the workspaces table at most once per refresh interval.
class WorkspaceDirectory {
 public:
  WorkspaceDirectory(std::string quoted_schema, std::chrono::milliseconds refresh);
  /// The name of every workspace, re-read with db when older than the refresh
  /// interval (the caller's own session: collectors run on their own threads).
  std::shared_ptr<const std::map<std::string, std::string, std::less<>>> Names(DbSession& db,
                                                                                Clock::time_point now);

 private:
  const std::string sql_;
  const std::chrono::milliseconds refresh_;
  std::mutex mutex_;
  std::shared_ptr<const std::map<std::string, std::string, std::less<>>> names_;  // guarded by mutex_
  Clock::time_point read_at_{};                                                   // guarded by mutex_
};

/// Drops from snapshot every metric whose workspace_id label names a workspace this
/// exporter does not own (other shards', or refused by the filter; names holds the
/// workspace names for it, may be null when the filter is inactive). Metrics without
/// the label, and the shared pool (workspace_id=""), pass the filter; the shared pool
/// belongs to shard 0.
void ScopeSnapshot(Snapshot& snapshot, const ShardOptions& shard, const WorkspaceFilter& filter,
                   const std::map<std::string, std::string, std::less<>>* names);

/// The live view (JSON API, WebSocket) through the include/exclude lists, so an
/// excluded workspace is as absent there as on /metrics: view itself when the filter
/// is inactive or admits every workspace in it (no copy), else a copy without the
/// refused ones (matched on id or on the workspace name the view carries). The shard
/// needs no filter here: the realtime collector reads only its shard's rows.
std::shared_ptr<const LiveView> ScopeLiveView(std::shared_ptr<const LiveView> view, const WorkspaceFilter& filter);

/// The time series a snapshot exposes: one per counter, gauge or untyped sample; a
/// histogram's buckets (+Inf included), _sum and _count; a summary's quantiles,
/// _sum and _count.
std::uint64_t CountSeries(const Snapshot& snapshot);

/// A collector seen through the exporter's scope: its snapshot keeps only the owned,
/// admitted workspaces, and gains agent_exporter_series{collector}, the series the
/// rest of the snapshot exposes. The collectors filter their shard in SQL already
/// (so the database work divides); this is the one place that guarantees it for
/// every family, and applies the include/exclude lists.
class ScopedCollector final : public Collector {
 public:
  ScopedCollector(std::string name, std::unique_ptr<Collector> inner, ShardOptions shard,
                  std::shared_ptr<const WorkspaceFilter> filter, std::shared_ptr<WorkspaceDirectory> directory,
                  const Clock* clock);
  Snapshot Collect(DbSession& db) override;
  bool HasPendingWork() const override { return inner_->HasPendingWork(); }
  void SetStartingUp(bool starting) override { inner_->SetStartingUp(starting); }

  /// agent_exporter_series.
  static std::span<const FamilySpec> Families();

 private:
  std::string name_;
  std::unique_ptr<Collector> inner_;
  ShardOptions shard_;
  std::shared_ptr<const WorkspaceFilter> filter_;
  std::shared_ptr<WorkspaceDirectory> directory_;
  const Clock* clock_;
};

}  // namespace aee
