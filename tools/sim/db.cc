#include "tools/sim/db.h"

#include <chrono>

#include "tools/schema_sql.h"

namespace aee::sim {
namespace {

// pqxx's own quote() trips GCC 12's -Wrestrict false positive under -O2 -Werror.
std::string Quote(pqxx::transaction_base& tx, const std::string& s) {
  std::string out = "'";
  out += tx.esc(s);
  out += '\'';
  return out;
}

}  // namespace

std::unique_ptr<pqxx::connection> Connect(const std::string& url, const std::string& schema) {
  auto conn = std::make_unique<pqxx::connection>(url);
  pqxx::nontransaction tx(*conn);
  tx.exec0("SET search_path TO " + tx.quote_name(schema));
  // A load generator should not die on a slow statement the server admin configured
  // for interactive users.
  tx.exec0("SET statement_timeout = 0");
  return conn;
}

void InitSchema(pqxx::connection& conn, const std::string& schema, const std::string& ddl) {
  pqxx::work tx(conn);
  tx.exec0("CREATE SCHEMA IF NOT EXISTS " + tx.quote_name(schema));
  tx.exec0("SET LOCAL search_path TO " + tx.quote_name(schema));
  // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog; serialise.
  tx.exec("SELECT pg_advisory_xact_lock(7243001)");
  tx.exec0(ddl);
  tx.commit();
}

const std::string& BuiltinSchemaSql() {
  static const std::string sql = kPlatformSchemaSql;
  return sql;
}

void EnsureEntities(pqxx::connection& conn, const Platform& platform, Micros now) {
  pqxx::work tx(conn);
  std::string sql = "INSERT INTO workspaces (id, name) VALUES ";
  bool first = true;
  for (const auto& ws : platform.workspaces()) {
    sql += first ? "(" : ",(";
    sql += Quote(tx, ws.id.Str()) + "," + Quote(tx, ws.name) + ")";
    first = false;
  }
  tx.exec0(sql + " ON CONFLICT (id) DO NOTHING");

  sql = "INSERT INTO agents (id, workspace_id, name) VALUES ";
  first = true;
  for (const auto& a : platform.agents()) {
    sql += first ? "(" : ",(";
    sql += Quote(tx, a.id.Str()) + "," +
           Quote(tx, platform.workspaces()[static_cast<size_t>(a.workspace)].id.Str()) + "," +
           Quote(tx, a.name) + ")";
    first = false;
  }
  tx.exec0(sql + " ON CONFLICT (id) DO NOTHING");

  // Workers form one shared pool (workspace_id NULL), as on most platforms.
  sql = "INSERT INTO workers (worker_id, workspace_id, status, capacity, cpu_percent, "
        "memory_percent, gpu_percent, last_heartbeat) VALUES ";
  first = true;
  const std::string ts = Quote(tx, FormatTimestamp(now));
  for (const auto& w : platform.workers()) {
    sql += first ? "(" : ",(";
    sql += Quote(tx, w.id) + ",NULL,'idle'," + std::to_string(w.capacity) +
           ",5,30,0," + ts + ")";
    first = false;
  }
  tx.exec0(sql + " ON CONFLICT (worker_id) DO UPDATE SET capacity = EXCLUDED.capacity");
  tx.commit();
}

Micros WallNow() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace aee::sim
