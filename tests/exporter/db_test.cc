#include "exporter/db.h"

#include <gtest/gtest.h>

namespace aee {
namespace {

TEST(RedactSecretsTest, HidesUriPasswords) {
  EXPECT_EQ(RedactSecrets("postgresql://app:s3cr%40t@db.internal:5432/platform?sslmode=require"),
            "postgresql://app:xxxxx@db.internal:5432/platform?sslmode=require");
  EXPECT_EQ(RedactSecrets("postgres://app@db/platform"), "postgres://app@db/platform");
}

TEST(RedactSecretsTest, HidesKeywordPasswords) {
  EXPECT_EQ(RedactSecrets("host=db password=hunter2 user=app"), "host=db password=xxxxx user=app");
  EXPECT_EQ(RedactSecrets("host=db password = 'a b\\'c' user=app"), "host=db password = xxxxx user=app");
  EXPECT_EQ(RedactSecrets("password=x"), "password=xxxxx");
  EXPECT_EQ(RedactSecrets("postgresql://db/x?user=a&password=hunter2&sslmode=disable"),
            "postgresql://db/x?user=a&password=xxxxx&sslmode=disable");
}

TEST(RedactSecretsTest, LeavesOrdinaryTextAlone) {
  EXPECT_EQ(RedactSecrets("collector runs failed: timeout"), "collector runs failed: timeout");
  EXPECT_EQ(RedactSecrets("see http://example.org/a:b"), "see http://example.org/a:b");
}

TEST(WithSchemaTest, ReplacesEveryToken) {
  EXPECT_EQ(WithSchema("SELECT 1 FROM {schema}.a JOIN {schema}.b", "\"s\""),
            "SELECT 1 FROM \"s\".a JOIN \"s\".b");
}

}  // namespace
}  // namespace aee
