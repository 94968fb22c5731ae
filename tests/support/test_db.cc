#include "tests/support/test_db.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace aee::testing {
namespace {

std::atomic<int> g_counter{0};

}  // namespace

std::string ReadSourceFile(const std::string& relative_path) {
  std::ifstream in(std::string(AEE_SOURCE_DIR) + "/" + relative_path);
  if (!in) throw std::runtime_error("cannot read " + relative_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TestDb::ServerUrl() {
  const char* url = std::getenv("AEE_TEST_DB_URL");
  return url == nullptr ? "" : url;
}

std::string TestDb::WithDatabase(const std::string& url, const std::string& db) {
  size_t scheme = url.find("://");
  size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  size_t query = url.find('?');
  std::string base = slash == std::string::npos ? url.substr(0, query) : url.substr(0, slash);
  std::string rest = query == std::string::npos ? "" : url.substr(query);
  return base + "/" + db + rest;
}

std::string TestDb::UrlAs(const std::string& role) const {
  const size_t user = url_.find("://") + 3;
  return url_.substr(0, user) + role + url_.substr(url_.find('@', user));
}

TestDb::TestDb(const std::string& schema, const std::string& server_url)
    : server_(server_url.empty() ? ServerUrl() : server_url) {
  const std::string& server = server_;
  if (server.empty()) throw std::runtime_error("AEE_TEST_DB_URL is not set (run the tests through ctest)");
  name_ = "aee_test_" + std::to_string(getpid()) + "_" + std::to_string(g_counter++);
  {
    pqxx::connection admin(server);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_));
    tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  }
  url_ = WithDatabase(server, name_);
  conn_ = std::make_unique<pqxx::connection>(url_);
  pqxx::work tx(*conn_);
  tx.exec("CREATE SCHEMA IF NOT EXISTS " + tx.quote_name(schema));
  tx.exec("SET LOCAL search_path = " + tx.quote_name(schema));
  tx.exec(ReadSourceFile("schema/platform.sql"));
  tx.commit();
}

TestDb::~TestDb() {
  conn_.reset();
  try {
    pqxx::connection admin(server_);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (...) {
    // The server may be gone (fault tests); the cluster is thrown away anyway.
  }
}

void TestDb::Reconnect() {
  conn_.reset();
  conn_ = std::make_unique<pqxx::connection>(url_);
}

void TestDb::Exec(const std::string& sql) {
  pqxx::work tx(*conn_);
  tx.exec(sql);
  tx.commit();
}

pqxx::result TestDb::Query(const std::string& sql) {
  pqxx::work tx(*conn_);
  pqxx::result r = tx.exec(sql);
  tx.commit();
  return r;
}

std::string TestDb::Scalar(const std::string& sql) {
  pqxx::result r = Query(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

}  // namespace aee::testing
