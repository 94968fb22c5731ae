#include "core/redact.h"

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

TEST(ConnectionSecretsTest, FindsTheUriPasswordAsWrittenAndDecoded) {
  EXPECT_EQ(ConnectionSecrets("postgresql://app:s3cr%40t@db:5432/p"), (std::vector<std::string>{"s3cr%40t", "s3cr@t"}));
  // Malformed percent-encoding: kept as written (that is what libpq's error quotes).
  EXPECT_EQ(ConnectionSecrets("postgresql://postgres:S3cr%zzetPW@127.0.0.1:5432/db"),
            (std::vector<std::string>{"S3cr%zzetPW"}));
  EXPECT_TRUE(ConnectionSecrets("postgresql://app@db/p").empty());
  EXPECT_TRUE(ConnectionSecrets("").empty());
}

TEST(ConnectionSecretsTest, FindsKeywordAndQueryPasswords) {
  EXPECT_EQ(ConnectionSecrets("host=db password=hunter2 user=app"), (std::vector<std::string>{"hunter2"}));
  EXPECT_EQ(ConnectionSecrets("host=db password='a b\\'c'"), (std::vector<std::string>{"'a b\\'c'", "a b'c"}));
  EXPECT_EQ(ConnectionSecrets("postgresql://db/x?user=a&password=p%41ss&sslmode=disable"),
            (std::vector<std::string>{"p%41ss", "pAss"}));
}

// Issue #17: libpq quoted the password in its own words; the pattern redactor,
// which looks for "://" or "password=", let it through.
TEST(RedactorTest, RemovesAKnownPasswordWhateverQuotesIt) {
  Redactor r(ConnectionSecrets("postgresql://postgres:S3cr%zzetPW@127.0.0.1:5432/db"));
  EXPECT_EQ(r.Redact("invalid percent-encoded token: \"S3cr%zzetPW\""), "invalid percent-encoded token: \"xxxxx\"");
  Redactor decoded(ConnectionSecrets("postgresql://app:s3cr%40t@db/p"));
  EXPECT_EQ(decoded.Redact("got s3cr@t and s3cr%40t"), "got xxxxx and xxxxx");
  // The patterns still apply on top.
  EXPECT_EQ(decoded.Redact("password=other"), "password=xxxxx");
}

TEST(RedactorTest, RemovesShortSecretsOnlyAsWholeTokens) {
  Redactor r({"ab"});
  EXPECT_EQ(r.Redact("tab ab \"ab\" abc"), "tab xxxxx \"xxxxx\" abc");
  Redactor longer({"abcd"});
  EXPECT_EQ(longer.Redact("xabcdx"), "xxxxxxx");
}

TEST(RedactorTest, PrefersTheLongestSecret) {
  Redactor r({"pass", "password1"});
  EXPECT_EQ(r.Redact("is password1 here"), "is xxxxx here");
  EXPECT_TRUE(Redactor().empty());
  EXPECT_EQ(Redactor().Redact("plain"), "plain");
}

}  // namespace
}  // namespace aee
