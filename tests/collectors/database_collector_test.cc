// Integration tests of the database collector against a real PostgreSQL.
#include "collectors/database_collector.h"

#include <gtest/gtest.h>

#include "core/db.h"
#include "tests/support/fixed_time.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using testing::SeriesCount;
using testing::Value;

class DatabaseCollectorTest : public ::testing::Test {
 protected:
  Snapshot Collect(DbSession& s) {
    CollectorContext ctx = testing::Ctx(clock_);
    DatabaseCollector c(ctx);
    return c.Collect(s);
  }
  testing::TestDb db_;
  SystemClock clock_;
};

TEST_F(DatabaseCollectorTest, ConnectionsByStateAreExact) {
  // Client sessions on the test database: the TestDb's own (idle), the collector's
  // (active while it reads), and one left idle in a transaction.
  pqxx::connection other(db_.url());
  pqxx::work open(other);
  open.exec("SELECT 1");
  DbSession s(db_.url(), "test");
  auto snap = Collect(s);
  EXPECT_EQ(Value(snap, "agent_db_connections", {{"state", "active"}}), 1);
  EXPECT_EQ(Value(snap, "agent_db_connections", {{"state", "idle"}}), 1);
  EXPECT_EQ(Value(snap, "agent_db_connections", {{"state", "idle_in_transaction"}}), 1);
  EXPECT_EQ(Value(snap, "agent_db_connections", {{"state", "idle_in_transaction_aborted"}}), 0);
  EXPECT_FALSE(testing::Find(snap, "agent_db_connections", {{"state", "unknown"}}));
  EXPECT_EQ(std::to_string(static_cast<int>(Value(snap, "agent_db_max_connections", {}))),
            db_.Scalar("SHOW max_connections"));
  open.abort();
}

TEST_F(DatabaseCollectorTest, TransactionCountersFollowCommitsAndRollbacks) {
  DbSession s(db_.url(), "test");
  auto before = Collect(s);
  pqxx::connection writer(db_.url());
  for (int i = 0; i < 5; ++i) {
    pqxx::work w(writer);
    w.exec("SELECT 1");
    w.commit();
  }
  for (int i = 0; i < 3; ++i) {
    pqxx::work w(writer);
    w.exec("SELECT 1");
    w.abort();
  }
  {
    pqxx::nontransaction n(writer);
    n.exec("SELECT pg_stat_force_next_flush()");  // statistics are flushed lazily otherwise
  }
  auto after = Collect(s);
  EXPECT_EQ(Value(after, "agent_db_transactions_total", {{"result", "rollback"}}) -
                Value(before, "agent_db_transactions_total", {{"result", "rollback"}}),
            3);
  EXPECT_GE(Value(after, "agent_db_transactions_total", {{"result", "commit"}}) -
                Value(before, "agent_db_transactions_total", {{"result", "commit"}}),
            5);
}

TEST_F(DatabaseCollectorTest, StatementTimeIsAbsentWithoutTheExtension) {
  DbSession s(db_.url(), "test");
  auto snap = Collect(s);
  EXPECT_EQ(SeriesCount(snap, "agent_db_statement_mean_seconds"), 0u);
  EXPECT_EQ(SeriesCount(snap, "agent_db_statement_calls_total"), 0u);
  EXPECT_EQ(SeriesCount(snap, "agent_db_statement_seconds_total"), 0u);
  EXPECT_GT(SeriesCount(snap, "agent_db_connections"), 0u);
}

// The test server preloads pg_stat_statements (scripts/pg.sh); the extension still
// has to be created in the database for its view to exist.
TEST_F(DatabaseCollectorTest, StatementTimeFromPgStatStatements) {
  db_.Exec("CREATE EXTENSION pg_stat_statements");
  const std::string totals =
      "SELECT sum(calls)::float8 FROM pg_stat_statements WHERE dbid = "
      "(SELECT oid FROM pg_database WHERE datname = current_database())";
  for (int i = 0; i < 20; ++i) db_.Exec("SELECT pg_sleep(0.001)");
  const double calls_before = std::stod(db_.Scalar(totals));
  DbSession s(db_.url(), "test");
  auto snap = Collect(s);
  const double calls_after = std::stod(db_.Scalar(totals));
  const double calls = Value(snap, "agent_db_statement_calls_total", {});
  EXPECT_GE(calls, calls_before);
  EXPECT_LE(calls, calls_after);
  const double seconds = Value(snap, "agent_db_statement_seconds_total", {});
  EXPECT_GE(seconds, 20 * 0.001);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_db_statement_mean_seconds", {}), seconds / calls);
}

}  // namespace
}  // namespace aee
