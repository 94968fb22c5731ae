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

/// Replaces every "{schema}" in sql_template with the quoted schema name.
std::string WithSchema(std::string_view sql_template, std::string_view quoted_schema);

/// A lazily (re)connected PostgreSQL session owned by one collector.
///
/// Every session sets application_name so DBAs can tell the exporter's queries
/// apart, turns JIT off and makes its transactions read-only, and is dropped after
/// any error so the next cycle starts from a fresh one.
class DbSession {
 public:
  DbSession(std::string url, std::string application_name);
  ~DbSession();
  DbSession(const DbSession&) = delete;
  DbSession& operator=(const DbSession&) = delete;

  /// The live connection, connecting first if needed. Throws pqxx exceptions.
  pqxx::connection& Get();
  /// The live connection with statement_timeout set for the whole session, for
  /// single statements outside a transaction (one round trip each). Throws pqxx
  /// exceptions.
  pqxx::connection& Get(std::chrono::milliseconds statement_timeout);
  /// Defines a prepared statement for this session: on the live connection and on
  /// every later one (PostgreSQL plans it once per connection instead of once per
  /// execution). Run it with exec_prepared(name, ...).
  void Prepare(const std::string& name, const std::string& sql);
  /// Drops the connection (after an error); the next Get() reconnects.
  void Reset();
  bool connected() const { return conn_ != nullptr; }

 private:
  std::string url_;
  std::string application_name_;
  std::unique_ptr<pqxx::connection> conn_;
  std::map<std::string, std::string> prepared_;  // name -> SQL, defined on each connection
  std::chrono::milliseconds session_timeout_{-1};  // the session's statement_timeout, -1 = default
};

/// Makes the statements of tx fail after timeout (SET LOCAL statement_timeout).
void SetStatementTimeout(pqxx::transaction_base& tx, std::chrono::milliseconds timeout);

}  // namespace aee
