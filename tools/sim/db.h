#pragma once

/// Database plumbing shared by backfill and live mode.

#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "tools/sim/platform.h"

namespace aee::sim {

/// Opens a connection whose search_path is `schema` only.
std::unique_ptr<pqxx::connection> Connect(const std::string& url, const std::string& schema);

/// Creates `schema` and runs the DDL in it (the DDL is idempotent).
void InitSchema(pqxx::connection& conn, const std::string& schema, const std::string& ddl);

/// The reference DDL compiled into the binary (schema/platform.sql).
const std::string& BuiltinSchemaSql();

/// Inserts the platform's workspaces, agents and workers unless already present.
void EnsureEntities(pqxx::connection& conn, const Platform& platform, Micros now);

/// Wall clock in Micros.
Micros WallNow();

}  // namespace aee::sim
