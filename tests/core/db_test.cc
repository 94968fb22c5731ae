#include "core/db.h"

#include <gtest/gtest.h>

namespace aee {
namespace {

TEST(ValidateConnectionStringTest, AcceptsUrisAndKeywordStrings) {
  std::string problem;
  EXPECT_TRUE(ValidateConnectionString("postgresql://app:s3cr%40t@db:5432/platform?sslmode=require", &problem));
  EXPECT_TRUE(ValidateConnectionString("host=db user=app password='a b'", &problem));
}

// The attack of issue #17: libpq's parse error quoted the password verbatim.
TEST(ValidateConnectionStringTest, NamesTheProblemWithoutQuotingTheString) {
  std::string problem;
  EXPECT_FALSE(ValidateConnectionString("postgresql://postgres:S3cr%zzetPW@127.0.0.1:5432/db", &problem));
  EXPECT_NE(problem.find("invalid percent-encoded token"), std::string::npos) << problem;
  EXPECT_EQ(problem.find("S3cr"), std::string::npos) << problem;
  EXPECT_FALSE(ValidateConnectionString("host=db password='unterminated", &problem));
  EXPECT_EQ(problem.find("unterminated"), problem.find("unterminated quoted string")) << problem;
  EXPECT_FALSE(ValidateConnectionString("host=db bogus_option=hunter2", &problem));
  EXPECT_EQ(problem.find("hunter2"), std::string::npos) << problem;
  EXPECT_EQ(problem.find("bogus_option"), std::string::npos) << problem;
}

TEST(WithSchemaTest, ReplacesEveryToken) {
  EXPECT_EQ(WithSchema("SELECT 1 FROM {schema}.a JOIN {schema}.b", "\"s\""),
            "SELECT 1 FROM \"s\".a JOIN \"s\".b");
}

TEST(DbPoolerTest, SessionPoolingIsNoneAndUnknownModesAreRefused) {
  DbPooler p = DbPooler::kTransaction;
  ASSERT_TRUE(ParseDbPooler("session", &p));
  EXPECT_EQ(p, DbPooler::kNone);
  ASSERT_TRUE(ParseDbPooler("transaction", &p));
  EXPECT_EQ(p, DbPooler::kTransaction);
  ASSERT_TRUE(ParseDbPooler("none", &p));
  EXPECT_EQ(p, DbPooler::kNone);
  EXPECT_FALSE(ParseDbPooler("statement", &p));  // multi-statement transactions break there
  EXPECT_FALSE(ParseDbPooler("", &p));
}

// Behind a transaction pooler a session-wide timeout would stay on the pooled server
// connection: refused before any connection is made.
TEST(DbPoolerTest, NoSessionTimeoutBehindATransactionPooler) {
  DbSession s("postgresql://nowhere.invalid/x", "test", DbPooler::kTransaction);
  EXPECT_THROW(s.Get(std::chrono::milliseconds(100)), std::logic_error);
  EXPECT_FALSE(s.connected());
}

}  // namespace
}  // namespace aee
