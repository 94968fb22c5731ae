#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <pqxx/pqxx>

#include "core/redact.h"

namespace aee {

/// Checks that libpq can parse conninfo (a URI or keyword string). On failure
/// returns false with *problem saying what is wrong without quoting any part of the
/// string (libpq's own message quotes the offending token, which may be the
/// password).
bool ValidateConnectionString(const std::string& conninfo, std::string* problem);

/// Where a connection string may come from: --<flag>, the file of --<flag>-file
/// (when file is not empty) or the environment variable env_name, in that order.
struct ConnectionStringSources {
  std::string_view flag;  // e.g. "db.url"
  bool flag_set = false;
  std::string flag_value;
  std::string file;
  std::string_view env_name;  // e.g. "AGENT_EXPORTER_DB_URL"
  const char* env_value = nullptr;
};

/// The connection string from its sources, checked with ValidateConnectionString
/// ("" when none is given). false with *error naming the flag, file or variable it
/// came from, never quoting it.
bool ResolveConnectionString(const ConnectionStringSources& from, std::string* out, std::string* error);

/// Replaces every "{schema}" in sql_template with the quoted schema name.
std::string WithSchema(std::string_view sql_template, std::string_view quoted_schema);

/// What sits between the exporter and PostgreSQL (--db.pooler).
enum class DbPooler {
  kNone,         // a direct connection (or a pooler in session mode): session state holds
  kTransaction,  // PgBouncer-style transaction pooling: each transaction may get another
                 // server connection, so nothing may outlive a transaction
};

/// Parses --db.pooler's value ("none", "session", "transaction"); false otherwise.
bool ParseDbPooler(std::string_view text, DbPooler* out);

/// A lazily (re)connected PostgreSQL session owned by one collector.
///
/// Every session sets application_name so DBAs can tell the exporter's queries
/// apart, turns JIT off and makes its transactions read-only, and is dropped after
/// any error so the next cycle starts from a fresh one. Behind a transaction pooler
/// only application_name (a parameter PgBouncer tracks per client) is set for the
/// session; JIT goes off per transaction (SetStatementTimeout), every transaction
/// is read-only by its BEGIN, and statements are never prepared on the server.
class DbSession {
 public:
  DbSession(std::string url, std::string application_name, DbPooler pooler = DbPooler::kNone);
  ~DbSession();
  DbSession(const DbSession&) = delete;
  DbSession& operator=(const DbSession&) = delete;

  /// The live connection, connecting first if needed. Throws pqxx exceptions.
  pqxx::connection& Get();
  /// The live connection with statement_timeout set for the whole session, for
  /// single statements outside a transaction (one round trip each). Throws pqxx
  /// exceptions, and std::logic_error behind a transaction pooler (where a session
  /// setting would stick to a server connection other clients get next).
  pqxx::connection& Get(std::chrono::milliseconds statement_timeout);
  /// Defines a prepared statement for this session: on the live connection and on
  /// every later one (PostgreSQL plans it once per connection instead of once per
  /// execution). Run it with exec_prepared(name, ...).
  void Prepare(const std::string& name, const std::string& sql);
  /// Runs the statement Prepare() defined under name, once, read-only, failing
  /// after timeout: directly as a prepared statement with a session-wide timeout
  /// (one round trip), or behind a transaction pooler as an unnamed statement in
  /// its own transaction with SET LOCAL (PgBouncer 1.18 keeps no prepared
  /// statements). Throws pqxx exceptions.
  template <typename... Args>
  pqxx::result ExecPrepared(const std::string& name, std::chrono::milliseconds timeout, Args&&... args);
  /// Drops the connection (after an error); the next Get() reconnects.
  void Reset();
  bool connected() const { return conn_ != nullptr; }
  DbPooler pooler() const { return pooler_; }

 private:
  std::string url_;
  std::string application_name_;
  DbPooler pooler_;
  std::unique_ptr<pqxx::connection> conn_;
  std::map<std::string, std::string> prepared_;  // name -> SQL, defined on each connection
  std::chrono::milliseconds session_timeout_{-1};  // the session's statement_timeout, -1 = default
};

/// Makes the statements of tx fail after timeout (SET LOCAL statement_timeout), and
/// turns JIT off for tx (SET LOCAL jit: sessions behind a transaction pooler cannot
/// carry it).
void SetStatementTimeout(pqxx::transaction_base& tx, std::chrono::milliseconds timeout);

template <typename... Args>
pqxx::result DbSession::ExecPrepared(const std::string& name, std::chrono::milliseconds timeout, Args&&... args) {
  if (pooler_ == DbPooler::kTransaction) {
    const std::string sql = prepared_.at(name);
    pqxx::read_transaction tx(Get());
    SetStatementTimeout(tx, timeout);
    pqxx::result r = tx.exec_params(sql, std::forward<Args>(args)...);
    tx.commit();
    return r;
  }
  pqxx::nontransaction tx(Get(timeout));
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

/// Quotes a PostgreSQL identifier ("my""schema").
std::string QuoteIdentifier(std::string_view name);

}  // namespace aee
