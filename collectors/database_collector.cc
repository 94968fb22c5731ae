#include "collectors/database_collector.h"

#include <map>

#include <pqxx/pqxx>

#include "core/db.h"

namespace aee {
namespace {

using prometheus::MetricType;

constexpr FamilySpec kConnections{"agent_db_connections", MetricType::Gauge,
                                  "Client connections to the platform database, by state.", {"state"}};
constexpr FamilySpec kMaxConnections{"agent_db_max_connections", MetricType::Gauge,
                                     "The server's max_connections setting.", {}};
constexpr FamilySpec kTransactions{"agent_db_transactions_total", MetricType::Counter,
                                   "Transactions of the platform database since the statistics were reset, by "
                                   "result (commit, rollback).",
                                   {"result"}};
constexpr FamilySpec kStatementMean{"agent_db_statement_mean_seconds", MetricType::Gauge,
                                    "Mean execution time of the statements pg_stat_statements tracked for the "
                                    "platform database (absent without the extension).",
                                    {}};
constexpr FamilySpec kStatementCalls{"agent_db_statement_calls_total", MetricType::Counter,
                                     "Statement executions pg_stat_statements tracked for the platform database.",
                                     {}};
constexpr FamilySpec kStatementTime{"agent_db_statement_seconds_total", MetricType::Counter,
                                    "Execution time of the statements pg_stat_statements tracked for the platform "
                                    "database.",
                                    {}};
constexpr std::array<FamilySpec, 6> kFamilies = {kConnections,  kMaxConnections,  kTransactions,
                                                 kStatementMean, kStatementCalls, kStatementTime};

// pg_stat_activity states with their label values; each is exposed, 0 included.
// Sessions of other roles read as state NULL without pg_read_all_stats: "unknown".
constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kStates = {{
    {"active", "active"},
    {"idle", "idle"},
    {"idle in transaction", "idle_in_transaction"},
    {"idle in transaction (aborted)", "idle_in_transaction_aborted"},
    {"fastpath function call", "fastpath_function_call"},
    {"disabled", "disabled"},
}};

constexpr std::string_view kConnectionsSql = R"SQL(
SELECT coalesce(state, ''), count(*) FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' GROUP BY 1
)SQL";

constexpr std::string_view kTransactionsSql = R"SQL(
SELECT xact_commit, xact_rollback, current_setting('max_connections')::float8
FROM pg_stat_database WHERE datname = current_database()
)SQL";

// Where pg_stat_statements lives, and which column holds the time (total_time
// before PostgreSQL 13, total_exec_time since).
constexpr std::string_view kStatementsProbeSql = R"SQL(
SELECT quote_ident(n.nspname),
       (SELECT a.attname FROM pg_attribute a
        WHERE a.attrelid = to_regclass(quote_ident(n.nspname) || '.pg_stat_statements')
          AND a.attname IN ('total_exec_time', 'total_time') AND NOT a.attisdropped
        ORDER BY a.attname DESC LIMIT 1)
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'
)SQL";

}  // namespace

DatabaseCollector::DatabaseCollector(CollectorContext ctx) : ctx_(std::move(ctx)) {}

std::span<const FamilySpec> DatabaseCollector::Families() { return kFamilies; }

Snapshot DatabaseCollector::Collect(DbSession& db) {
  std::map<std::string, double> connections;
  for (const auto& [state, label] : kStates) connections[std::string(label)] = 0;
  double commits = 0, rollbacks = 0, max_connections = 0;
  bool have_statements = false;
  double calls = 0, total_ms = 0;
  {
    pqxx::read_transaction tx(db.Get());
    SetStatementTimeout(tx, ctx_.timeout);
    for (const auto& row : tx.exec(std::string(kConnectionsSql))) {
      const std::string state = row[0].as<std::string>();
      std::string label = "unknown";
      for (const auto& [s, l] : kStates) {
        if (s == state) label = l;
      }
      connections[label] += row[1].as<double>();
    }
    pqxx::row xact = tx.exec1(std::string(kTransactionsSql));
    commits = xact[0].as<double>();
    rollbacks = xact[1].as<double>();
    max_connections = xact[2].as<double>();
    pqxx::result probe = tx.exec(std::string(kStatementsProbeSql));
    if (!probe.empty() && !probe[0][1].is_null()) {
      // The extension can be installed without being loaded (shared_preload_libraries);
      // reading it then fails, which must not fail the cycle: a savepoint contains it.
      // pg_stat_statements(false) leaves out the query texts, which the view reads
      // from a file on every call (8.8 -> 0.9 ms a call with 863 statements).
      try {
        pqxx::subtransaction sub(tx, "statements");
        pqxx::row r = sub.exec1("SELECT coalesce(sum(calls), 0)::float8, coalesce(sum(" + probe[0][1].as<std::string>() +
                                "), 0)::float8 FROM " + probe[0][0].as<std::string>() +
                                ".pg_stat_statements(false) WHERE dbid = (SELECT oid FROM pg_database "
                                "WHERE datname = current_database())");
        sub.commit();
        calls = r[0].as<double>();
        total_ms = r[1].as<double>();
        have_statements = true;
      } catch (const pqxx::sql_error&) {
        have_statements = false;
      }
    }
    tx.commit();
  }

  FamilyBuilder conn(kConnections), max_conn(kMaxConnections), xacts(kTransactions), mean(kStatementMean),
      calls_f(kStatementCalls), time_f(kStatementTime);
  for (const auto& [label, n] : connections) conn.Add({label}, n);
  max_conn.Add({}, max_connections);
  xacts.Add({"commit"}, commits);
  xacts.Add({"rollback"}, rollbacks);
  if (have_statements) {
    if (calls > 0) mean.Add({}, total_ms / 1000 / calls);
    calls_f.Add({}, calls);
    time_f.Add({}, total_ms / 1000);
  }
  Snapshot out;
  for (FamilyBuilder* b : {&conn, &max_conn, &xacts, &mean, &calls_f, &time_f}) out.push_back(b->Take());
  return out;
}

}  // namespace aee
