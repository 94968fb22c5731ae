#include "exporter/db.h"

#include <cctype>
#include <regex>

namespace aee {

std::string RedactSecrets(std::string_view text) {
  // Fast path: most log lines hold nothing that looks like a credential.
  if (text.find("://") == std::string_view::npos && text.find("assword") == std::string_view::npos) {
    return std::string(text);
  }
  // URI form: scheme://user:password@host -> scheme://user:xxxxx@host
  static const std::regex kUri(R"(([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@\s]*@)");
  // Keyword form and URI query parameter: password=secret, password = 'a b', ?password=x&
  static const std::regex kKeyword(
      R"(((?:^|[\s?&;,])(?:password|PGPASSWORD)\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;,]*))",
      std::regex::icase);
  std::string out = std::regex_replace(std::string(text), kUri, "$1:xxxxx@");
  out = std::regex_replace(out, kKeyword, "$1xxxxx");
  return out;
}

std::string WithSchema(std::string_view sql_template, std::string_view quoted_schema) {
  std::string out;
  out.reserve(sql_template.size() + 32);
  constexpr std::string_view kToken = "{schema}";
  size_t pos = 0;
  while (true) {
    size_t hit = sql_template.find(kToken, pos);
    if (hit == std::string_view::npos) break;
    out.append(sql_template.substr(pos, hit - pos));
    out.append(quoted_schema);
    pos = hit + kToken.size();
  }
  out.append(sql_template.substr(pos));
  return out;
}

DbSession::DbSession(std::string url, std::string application_name)
    : url_(std::move(url)), application_name_(std::move(application_name)) {}

DbSession::~DbSession() = default;

pqxx::connection& DbSession::Get() {
  if (conn_ == nullptr) {
    auto conn = std::make_unique<pqxx::connection>(url_);
    pqxx::nontransaction tx(*conn);
    tx.exec("SET application_name = " + tx.quote(application_name_));
    // The day's aggregates (a hundred FILTERed counts over today's rows) cross the
    // JIT cost threshold and spend over a second compiling, more than they run
    // (docs/benchmarks.md); nothing the exporter asks gains from JIT.
    tx.exec("SET jit = off");
    conn_ = std::move(conn);
  }
  return *conn_;
}

pqxx::connection& DbSession::Get(std::chrono::milliseconds statement_timeout) {
  pqxx::connection& conn = Get();
  if (session_timeout_ != statement_timeout) {
    pqxx::nontransaction tx(conn);
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout.count()));
    session_timeout_ = statement_timeout;
  }
  return conn;
}

void DbSession::Reset() {
  conn_.reset();
  session_timeout_ = std::chrono::milliseconds(-1);
}

void SetStatementTimeout(pqxx::transaction_base& tx, std::chrono::milliseconds timeout) {
  tx.exec("SET LOCAL statement_timeout = " + std::to_string(timeout.count()));
}

}  // namespace aee
