#include "collectors/run_ledger.h"

#include <gtest/gtest.h>

namespace aee {
namespace {

TEST(RunLedgerTest, InsertsOnce) {
  RunLedger l;
  EXPECT_TRUE(l.Insert("3f2504e0-4f89-11d3-9a0c-0305e82c3301", 10));
  EXPECT_FALSE(l.Insert("3f2504e0-4f89-11d3-9a0c-0305e82c3301", 10));
  EXPECT_FALSE(l.Insert("3F2504E0-4F89-11D3-9A0C-0305E82C3301", 10));  // same uuid, other case
  EXPECT_TRUE(l.Insert("3f2504e0-4f89-11d3-9a0c-0305e82c3302", 10));
  EXPECT_EQ(l.size(), 2u);
}

TEST(RunLedgerTest, EvictsByFinishTimeNotInsertOrder) {
  RunLedger l;
  l.Insert("00000000-0000-0000-0000-000000000003", 300);
  l.Insert("00000000-0000-0000-0000-000000000001", 100);  // late commit, older finish
  l.Insert("00000000-0000-0000-0000-000000000002", 200);
  l.EvictBefore(201);
  EXPECT_FALSE(l.Contains("00000000-0000-0000-0000-000000000001"));
  EXPECT_FALSE(l.Contains("00000000-0000-0000-0000-000000000002"));
  EXPECT_TRUE(l.Contains("00000000-0000-0000-0000-000000000003"));
  EXPECT_EQ(l.size(), 1u);
}

TEST(RunLedgerTest, AcceptsNonUuidIds) {
  RunLedger l;
  EXPECT_TRUE(l.Insert("run-42", 1));
  EXPECT_FALSE(l.Insert("run-42", 1));
  EXPECT_TRUE(l.Insert("run-43", 1));
}

}  // namespace
}  // namespace aee

namespace aee {
namespace {

TEST(RunLedgerTest, IntegerIdsAreKeysOfTheirOwn) {
  RunLedger l;
  EXPECT_TRUE(l.Insert(std::int64_t{42}, 5));
  EXPECT_FALSE(l.Insert(std::int64_t{42}, 5));
  EXPECT_TRUE(l.Contains(std::int64_t{42}));
  EXPECT_FALSE(l.Contains(std::int64_t{43}));
  EXPECT_TRUE(l.Insert("42", 5));  // the text "42" is another key
  EXPECT_TRUE(l.Insert("00000000-0000-0000-0000-00000000002a", 5));
  l.EvictBefore(6);
  EXPECT_EQ(l.size(), 0u);
}

}  // namespace
}  // namespace aee
