#include "collectors/scope.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <pqxx/pqxx>

#include "collectors/options.h"
#include "core/db.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kSeries{"agent_exporter_series", MetricType::Gauge,
                             "Time series the collector's last snapshot exposed (histogram buckets, _sum and "
                             "_count each count), after sharding and the workspace lists.",
                             {"collector"}};
constexpr std::array<FamilySpec, 1> kFamilies = {kSeries};

std::regex Anchored(const std::string& re) { return std::regex("^(?:" + re + ")$", std::regex::ECMAScript); }

}  // namespace

std::uint32_t WorkspaceShardHash(std::string_view workspace_id) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(workspace_id.data(), workspace_id.size(), digest, &len, EVP_md5(), nullptr) != 1 || len < 4) {
    throw std::runtime_error("MD5 is not available (OpenSSL)");
  }
  return (std::uint32_t{digest[0]} << 24) | (std::uint32_t{digest[1]} << 16) | (std::uint32_t{digest[2]} << 8) |
         std::uint32_t{digest[3]};
}

int ShardOfWorkspace(std::string_view workspace_id, int count) {
  if (workspace_id.empty() || count <= 1) return 0;
  return static_cast<int>(WorkspaceShardHash(workspace_id) % static_cast<std::uint32_t>(count));
}

namespace {

// The hash of column (WorkspaceShardHash) modulo the count is the index; NULL for NULL.
std::string HashSql(const std::string& column, const ShardOptions& shard) {
  return "(('x' || substr(md5(" + column + "::text), 1, 8))::bit(32)::bigint % " + std::to_string(shard.count) +
         " = " + std::to_string(shard.index) + ")";
}

}  // namespace

std::string ShardSql(std::string_view column, const ShardOptions& shard) {
  if (!shard.sharded()) return "TRUE";
  const std::string col(column);
  const std::string owned = HashSql(col, shard);
  return shard.index == 0 ? "(" + col + " IS NULL OR " + owned + ")" : owned;
}

std::string OwnedWorkspacesSql(std::string_view quoted_schema, const ShardOptions& shard) {
  return "SELECT w.id FROM " + std::string(quoted_schema) + ".workspaces w WHERE " +
         (shard.sharded() ? HashSql("w.id", shard) : "TRUE");
}

std::string WorkspaceShardSql(std::string_view column, std::string_view quoted_schema, const ShardOptions& shard,
                              std::string_view owned_relation) {
  if (!shard.sharded()) return "TRUE";
  const std::string col(column);
  const std::string schema(quoted_schema);
  // Exact: for a row whose workspace_id equals some workspaces.id, the first test is
  // the hash of that id, which is the hash of the row's id (same uuid, same text);
  // every other non-NULL row is tested on its own hash, as ShardSql tests it. Both
  // tests read the statement's snapshot, so a workspace inserted or deleted
  // concurrently moves a row from one branch to the other, never off its shard.
  // Inline, the planner pulls the subquery up: the plan is the one of a test on
  // workspaces itself (checked with EXPLAIN, many rows and few).
  const std::string relation =
      owned_relation.empty() ? "(" + OwnedWorkspacesSql(quoted_schema, shard) + ")" : std::string(owned_relation);
  const std::string owned = "EXISTS (SELECT 1 FROM " + relation + " ow WHERE ow.id = " + col + ")";
  const std::string fallback = "(NOT EXISTS (SELECT 1 FROM " + schema + ".workspaces aw WHERE aw.id = " + col +
                               ") AND " + HashSql(col, shard) + ")";
  return "(" + std::string(shard.index == 0 ? col + " IS NULL OR " : "") + owned + " OR " + fallback + ")";
}

WorkspaceFilter::WorkspaceFilter(const std::string& include, const std::string& exclude)
    : has_include_(!include.empty()), has_exclude_(!exclude.empty()) {
  if (has_include_) include_ = Anchored(include);
  if (has_exclude_) exclude_ = Anchored(exclude);
}

bool WorkspaceFilter::Admits(std::string_view id, std::string_view name) const {
  auto matches = [&](const std::regex& re) {
    return std::regex_match(id.begin(), id.end(), re) || (!name.empty() && std::regex_match(name.begin(), name.end(), re));
  };
  if (has_include_ && !matches(include_)) return false;
  return !(has_exclude_ && matches(exclude_));
}

bool ValidWorkspaceRegex(const std::string& re, std::string* error) {
  try {
    Anchored(re);
    return true;
  } catch (const std::regex_error& e) {
    *error = e.what();
    return false;
  }
}

WorkspaceDirectory::WorkspaceDirectory(std::string quoted_schema, std::chrono::milliseconds refresh)
    : sql_(WithSchema("SELECT id::text, coalesce(name, '') FROM {schema}.workspaces", quoted_schema)),
      refresh_(refresh) {}

std::shared_ptr<const std::map<std::string, std::string, std::less<>>> WorkspaceDirectory::Names(
    DbSession& db, Clock::time_point now) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (names_ && now >= read_at_ && now - read_at_ < refresh_) return names_;
  }
  auto names = std::make_shared<std::map<std::string, std::string, std::less<>>>();
  {
    pqxx::read_transaction tx(db.Get());
    for (const auto& row : tx.exec(sql_)) names->emplace(row[0].as<std::string>(), row[1].as<std::string>());
    tx.commit();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  names_ = std::move(names);
  read_at_ = now;
  return names_;
}

void ScopeSnapshot(Snapshot& snapshot, const ShardOptions& shard, const WorkspaceFilter& filter,
                   const std::map<std::string, std::string, std::less<>>* names) {
  if (!shard.sharded() && !filter.active()) return;
  // Decided once per workspace: a snapshot repeats each id in many metrics.
  std::map<std::string, bool, std::less<>> admitted;
  auto admits = [&](const std::string& id) {
    auto it = admitted.find(id);
    if (it != admitted.end()) return it->second;
    bool ok = ShardOfWorkspace(id, shard.count) == shard.index;
    if (ok && filter.active() && !id.empty()) {
      std::string_view name;
      if (names != nullptr) {
        if (auto n = names->find(id); n != names->end()) name = n->second;
      }
      ok = filter.Admits(id, name);
    }
    return admitted.emplace(id, ok).first->second;
  };
  for (auto& family : snapshot) {
    auto& metrics = family.metric;
    metrics.erase(std::remove_if(metrics.begin(), metrics.end(),
                                 [&](const prometheus::ClientMetric& m) {
                                   for (const auto& label : m.label) {
                                     if (label.name == "workspace_id") return !admits(label.value);
                                   }
                                   return false;
                                 }),
                  metrics.end());
  }
}

std::shared_ptr<const LiveView> ScopeLiveView(std::shared_ptr<const LiveView> view, const WorkspaceFilter& filter) {
  if (!view || !filter.active()) return view;
  auto admits = [&](const LiveWorkspace& ws) { return filter.Admits(ws.id, ws.name); };
  if (std::all_of(view->workspaces.begin(), view->workspaces.end(), [&](const auto& w) { return admits(w.second); })) {
    return view;
  }
  auto scoped = std::make_shared<LiveView>();
  scoped->sampled_at_us = view->sampled_at_us;
  for (const auto& [id, ws] : view->workspaces) {
    if (admits(ws)) scoped->workspaces.emplace(id, ws);
  }
  return scoped;
}

std::uint64_t CountSeries(const Snapshot& snapshot) {
  std::uint64_t n = 0;
  for (const auto& family : snapshot) {
    for (const auto& m : family.metric) {
      switch (family.type) {
        case MetricType::Histogram: {
          const auto& buckets = m.histogram.bucket;
          const bool has_inf = !buckets.empty() && std::isinf(buckets.back().upper_bound);
          n += buckets.size() + (has_inf ? 0 : 1) + 2;
          break;
        }
        case MetricType::Summary:
          n += m.summary.quantile.size() + 2;
          break;
        default:
          n += 1;
      }
    }
  }
  return n;
}

ScopedCollector::ScopedCollector(std::string name, std::unique_ptr<Collector> inner, ShardOptions shard,
                                 std::shared_ptr<const WorkspaceFilter> filter,
                                 std::shared_ptr<WorkspaceDirectory> directory, const Clock* clock)
    : name_(std::move(name)),
      inner_(std::move(inner)),
      shard_(shard),
      filter_(std::move(filter)),
      directory_(std::move(directory)),
      clock_(clock) {
  if (!filter_) filter_ = std::make_shared<const WorkspaceFilter>();
}

std::span<const FamilySpec> ScopedCollector::Families() { return kFamilies; }

Snapshot ScopedCollector::Collect(DbSession& db) {
  Snapshot snapshot = inner_->Collect(db);
  std::shared_ptr<const std::map<std::string, std::string, std::less<>>> names;
  if (filter_->active() && directory_) names = directory_->Names(db, clock_->Now());
  ScopeSnapshot(snapshot, shard_, *filter_, names.get());
  FamilyBuilder series(kSeries);
  series.Add({name_}, static_cast<double>(CountSeries(snapshot)));
  snapshot.push_back(series.Take());
  return snapshot;
}

namespace {

bool SetWorkspaceRegex(std::string_view value, std::string* out, std::string* why) {
  std::string error;
  if (!ValidWorkspaceRegex(std::string(value), &error)) {
    *why = "invalid regular expression \"" + std::string(value) + "\": " + error;
    return false;
  }
  *out = value;
  return true;
}

}  // namespace

std::span<const CollectorFlag> WorkspaceFilterFlags() {
  static constexpr CollectorFlag kFlags[] = {
      {{"collector.workspaces.include", FlagKind::kString, "",
        "Expose only workspaces whose id or name matches this regular expression (anchored; empty = all)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return SetWorkspaceRegex(v, &o->workspaces_include, why);
       }},
      {{"collector.workspaces.exclude", FlagKind::kString, "",
        "Leave out workspaces whose id or name matches this regular expression (anchored; empty = none)."},
       [](std::string_view v, CollectorOptions* o, std::string* why) {
         return SetWorkspaceRegex(v, &o->workspaces_exclude, why);
       }},
  };
  return kFlags;
}

}  // namespace aee
