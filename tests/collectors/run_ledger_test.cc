#include "collectors/run_ledger.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <unordered_map>

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

namespace aee {
namespace {

// The table against a plain map: random uuid and sequential integer ids, repeats,
// finish times out of order, evictions by a moving cutoff, all through growth
// and shrinking. Memory stays within 4 slots per id.
TEST(RunLedgerTest, AgreesWithAMapThroughGrowthAndEviction) {
  RunLedger l;
  std::unordered_map<std::string, std::int64_t> model;  // key text -> finished_us
  std::mt19937_64 rng(7);
  std::int64_t now = 1'000'000;
  std::int64_t next_int = 1;
  std::vector<std::string> known;
  for (int round = 0; round < 60; ++round) {
    for (int i = 0; i < 2000; ++i) {
      now += 10;
      const std::int64_t finished = now - static_cast<std::int64_t>(rng() % 5000);  // late commits
      std::string text;
      bool inserted;
      const int kind = static_cast<int>(rng() % 4);
      if (kind == 0 && !known.empty()) {  // an id seen before, counted or evicted
        text = known[rng() % known.size()];
      } else if (kind == 1) {
        text = "int:" + std::to_string(next_int++);
      } else {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(rng()),
                      static_cast<unsigned>(rng() & 0xffff), static_cast<unsigned>(rng() & 0xfff),
                      static_cast<unsigned>(rng() & 0xffff), static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
        text = buf;
      }
      if (text.rfind("int:", 0) == 0) {
        inserted = l.Insert(static_cast<std::int64_t>(std::stoll(text.substr(4))), finished);
      } else {
        inserted = l.Insert(text, finished);
      }
      const bool expected = model.emplace(text, finished).second;
      ASSERT_EQ(inserted, expected) << text << " in round " << round;
      known.push_back(text);
    }
    const std::int64_t cutoff = now - 8000 - static_cast<std::int64_t>(rng() % 4000);
    l.EvictBefore(cutoff);
    std::erase_if(model, [&](const auto& e) { return e.second < cutoff; });
    ASSERT_EQ(l.size(), model.size()) << "round " << round;
    ASSERT_LE(l.capacity(), std::max<size_t>(16, 4 * l.size())) << "round " << round;
    for (size_t i = 0; i < 500; ++i) {
      const std::string& text = known[rng() % known.size()];
      const bool in_model = model.contains(text);
      const bool in_ledger = text.rfind("int:", 0) == 0
                                 ? l.Contains(static_cast<std::int64_t>(std::stoll(text.substr(4))))
                                 : l.Contains(text);
      ASSERT_EQ(in_ledger, in_model) << text << " after round " << round;
    }
  }
  l.EvictBefore(now + 1);
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.capacity(), 0u);  // an empty ledger gives its memory back
  EXPECT_FALSE(l.Contains("int"));
  EXPECT_TRUE(l.Insert(std::int64_t{1}, now));
  l.Clear();
  EXPECT_EQ(l.size(), 0u);
  EXPECT_FALSE(l.Contains(std::int64_t{1}));
}

TEST(RunLedgerTest, KeepsTheOldestEntryOfAnyTime) {
  RunLedger l;
  EXPECT_TRUE(l.Insert(std::int64_t{1}, std::numeric_limits<std::int64_t>::min()));  // the free marker's value
  EXPECT_TRUE(l.Contains(std::int64_t{1}));
  EXPECT_FALSE(l.Insert(std::int64_t{1}, 0));
  l.EvictBefore(std::numeric_limits<std::int64_t>::min() + 2);
  EXPECT_FALSE(l.Contains(std::int64_t{1}));
}

}  // namespace
}  // namespace aee
