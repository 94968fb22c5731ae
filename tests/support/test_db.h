#pragma once

#include <memory>
#include <string>

#include <pqxx/pqxx>

namespace aee::testing {

/// A fresh database on the test PostgreSQL (env AEE_TEST_DB_URL, or server_url
/// when given), with the reference schema loaded into `schema`, dropped again when
/// the object dies.
class TestDb {
 public:
  explicit TestDb(const std::string& schema = "public", const std::string& server_url = "");
  ~TestDb();
  TestDb(const TestDb&) = delete;
  TestDb& operator=(const TestDb&) = delete;

  /// libpq URI of the test database.
  const std::string& url() const { return url_; }
  /// The same URI logging in as role (a role the test created, without password).
  std::string UrlAs(const std::string& role) const;
  const std::string& name() const { return name_; }
  /// Runs SQL (several statements allowed) in its own transaction.
  void Exec(const std::string& sql);
  /// First column of the first row as text ("" for NULL).
  std::string Scalar(const std::string& sql);
  pqxx::result Query(const std::string& sql);
  /// Opens a fresh connection (after the server was restarted or killed).
  void Reconnect();

  /// The server URL from the environment; empty when unset.
  static std::string ServerUrl();
  /// Replaces the database name in a postgresql:// URI.
  static std::string WithDatabase(const std::string& url, const std::string& db);

 private:
  std::string server_;
  std::string name_;
  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
};

/// Text of a file under the source tree.
std::string ReadSourceFile(const std::string& relative_path);

}  // namespace aee::testing
