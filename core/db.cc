#include "core/db.h"

#include <libpq-fe.h>

#include <stdexcept>

#include "core/flags.h"

namespace aee {

bool ValidateConnectionString(const std::string& conninfo, std::string* problem) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options != nullptr) {
    PQconninfoFree(options);
    return true;
  }
  // Keep libpq's words, drop what it quotes: "invalid percent-encoded token: "…"".
  std::string message = err != nullptr ? err : "out of memory";
  if (err != nullptr) PQfreemem(err);
  std::string out;
  bool quoted = false;
  for (char c : message) {
    if (c == '"') {
      if (!quoted) out += "\"…\"";
      quoted = !quoted;
    } else if (!quoted && c != '\n') {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ':')) out.pop_back();
  *problem = "libpq cannot parse the connection string (" + out + ")";
  return false;
}

bool ResolveConnectionString(const ConnectionStringSources& from, std::string* out, std::string* error) {
  const std::string file_flag = std::string(from.flag) + "-file";
  std::string where;
  if (!from.file.empty()) {
    if (from.flag_set) {
      *error = FlagError(file_flag, "cannot be combined with --" + std::string(from.flag));
      return false;
    }
    std::string why;
    if (!ReadTrimmedFile(from.file, out, &why)) {
      *error = FlagError(file_flag, why);
      return false;
    }
    if (out->empty()) {
      *error = FlagError(file_flag, "file \"" + from.file + "\" is empty");
      return false;
    }
    where = FlagError(file_flag, "file \"" + from.file + "\": ");
  } else if (from.flag_set) {
    *out = from.flag_value;
    where = FlagError(from.flag, "");
  } else {
    *out = from.env_value != nullptr ? from.env_value : "";
    where = std::string(from.env_name) + ": ";
  }
  // A string libpq cannot parse would fail every connection forever, and libpq's
  // message quotes the offending token, which may be the password: refuse it here,
  // in our words.
  if (std::string problem; !out->empty() && !ValidateConnectionString(*out, &problem)) {
    *error = where + problem;
    return false;
  }
  return true;
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

bool ParseDbPooler(std::string_view text, DbPooler* out) {
  // A pooler in session mode keeps one server connection per client session: the
  // same as none.
  if (text == "none" || text == "session") {
    *out = DbPooler::kNone;
  } else if (text == "transaction") {
    *out = DbPooler::kTransaction;
  } else {
    return false;
  }
  return true;
}

DbSession::DbSession(std::string url, std::string application_name, DbPooler pooler)
    : url_(std::move(url)), application_name_(std::move(application_name)), pooler_(pooler) {}

DbSession::~DbSession() = default;

pqxx::connection& DbSession::Get() {
  if (conn_ == nullptr) {
    auto conn = std::make_unique<pqxx::connection>(url_);
    pqxx::nontransaction tx(*conn);
    // One round trip. The day's aggregates cross the JIT cost threshold and spent
    // over a second compiling, more than they run (docs/benchmarks.md); nothing the
    // exporter asks gains from JIT. Read-only covers statements run outside an
    // explicit transaction too (the realtime collector's). Behind a transaction
    // pooler only application_name survives (PgBouncer re-applies it on whichever
    // server connection the client gets); the rest would stay on the server
    // connection for other clients, so it goes per transaction instead.
    if (pooler_ == DbPooler::kTransaction) {
      tx.exec("SET application_name = " + tx.quote(application_name_));
    } else {
      tx.exec("SET application_name = " + tx.quote(application_name_) +
              "; SET jit = off; SET default_transaction_read_only = on");
      // libpqxx sends each definition to the server with its first execution.
      for (const auto& [name, sql] : prepared_) conn->prepare(name, sql);
    }
    conn_ = std::move(conn);
  }
  return *conn_;
}

pqxx::connection& DbSession::Get(std::chrono::milliseconds statement_timeout) {
  if (pooler_ == DbPooler::kTransaction) {
    throw std::logic_error("a session-wide statement_timeout does not survive a transaction pooler");
  }
  pqxx::connection& conn = Get();
  if (session_timeout_ != statement_timeout) {
    pqxx::nontransaction tx(conn);
    tx.exec("SET statement_timeout = " + std::to_string(statement_timeout.count()));
    session_timeout_ = statement_timeout;
  }
  return conn;
}

void DbSession::Prepare(const std::string& name, const std::string& sql) {
  auto [it, added] = prepared_.emplace(name, sql);
  if (!added && it->second == sql) return;
  it->second = sql;
  if (conn_ != nullptr && pooler_ != DbPooler::kTransaction) {
    if (!added) conn_->unprepare(name);
    conn_->prepare(name, sql);
  }
}

void DbSession::Reset() {
  conn_.reset();
  session_timeout_ = std::chrono::milliseconds(-1);
}

void SetStatementTimeout(pqxx::transaction_base& tx, std::chrono::milliseconds timeout) {
  tx.exec("SET LOCAL statement_timeout = " + std::to_string(timeout.count()) + "; SET LOCAL jit = off");
}

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace aee
