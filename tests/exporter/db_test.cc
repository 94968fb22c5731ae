#include "exporter/db.h"

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

}  // namespace
}  // namespace aee
