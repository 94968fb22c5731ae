#include "collectors/info_collector.h"

#include <pqxx/pqxx>

#include "collectors/scope.h"
#include "core/db.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kWorkspaceInfo{"agent_workspace_info", MetricType::Gauge,
                                    "Workspace display name; value is always 1.",
                                    {"workspace_id", "workspace_name"}};
constexpr FamilySpec kAgentInfo{"agent_info", MetricType::Gauge,
                                "Agent display name; value is always 1.",
                                {"workspace_id", "agent_id", "agent_name"}};
constexpr std::array<FamilySpec, 2> kFamilies = {kWorkspaceInfo, kAgentInfo};

}  // namespace

InfoCollector::InfoCollector(CollectorContext ctx, bool agent_info)
    : ctx_(std::move(ctx)),
      agent_info_(agent_info),
      workspaces_sql_(WithSchema("SELECT id::text, coalesce(name, '') FROM {schema}.workspaces WHERE " +
                                     ShardSql("id", ctx_.shard),
                                 ctx_.quoted_schema)),
      agents_sql_(WithSchema("SELECT a.workspace_id::text, a.id::text, coalesce(a.name, '') FROM {schema}.agents a "
                             "WHERE a.workspace_id IS NOT NULL AND " +
                                 WorkspaceShardSql("a.workspace_id", ctx_.quoted_schema, ctx_.shard),
                             ctx_.quoted_schema)) {}

std::span<const FamilySpec> InfoCollector::Families() { return kFamilies; }

Snapshot InfoCollector::Collect(DbSession& db) {
  FamilyBuilder workspaces(kWorkspaceInfo), agents(kAgentInfo);
  {
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(db.Get());
    SetStatementTimeout(tx, ctx_.timeout);
    for (const auto& row : tx.exec(workspaces_sql_)) workspaces.Add({row[0].c_str(), row[1].c_str()}, 1);
    if (agent_info_) {
      for (const auto& row : tx.exec(agents_sql_)) agents.Add({row[0].c_str(), row[1].c_str(), row[2].c_str()}, 1);
    }
    tx.commit();
  }
  Snapshot out;
  out.push_back(workspaces.Take());
  out.push_back(agents.Take());
  return out;
}

}  // namespace aee
