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

// The table of text ids against a plain map: random uuids and other text, repeats,
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
        text = "run-" + std::to_string(next_int++);
      } else {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(rng()),
                      static_cast<unsigned>(rng() & 0xffff), static_cast<unsigned>(rng() & 0xfff),
                      static_cast<unsigned>(rng() & 0xffff),
                      static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
        text = buf;
      }
      inserted = l.Insert(text, finished);
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
      ASSERT_EQ(l.Contains(text), in_model) << text << " after round " << round;
    }
  }
  l.EvictBefore(now + 1);
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.capacity(), 0u);  // an empty ledger gives its memory back
  EXPECT_FALSE(l.Contains("run-1"));
  EXPECT_TRUE(l.Insert("run-1", now));
  EXPECT_TRUE(l.Insert(std::int64_t{1}, now));
  l.Clear();
  EXPECT_EQ(l.size(), 0u);
  EXPECT_FALSE(l.Contains("run-1"));
  EXPECT_FALSE(l.Contains(std::int64_t{1}));
}

// Integer ids: near-consecutive (a bigserial with gaps and late commits), never
// forgotten while their finish time is at or after the cutoff, forgotten at most
// one block (512 ids) late, about a bit each.
TEST(RunLedgerTest, RemembersIntegerIdsUntilTheCutoffInCompactBlocks) {
  RunLedger l;
  std::mt19937_64 rng(11);
  std::unordered_map<std::int64_t, std::int64_t> model;  // id -> finished_us
  std::int64_t id = 1'000'000'000'000;
  std::int64_t now = 0;
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 5000; ++i) {
      id += 1 + static_cast<std::int64_t>(rng() % 3);  // gaps of rolled-back inserts
      now += 100;
      const std::int64_t finished = now - static_cast<std::int64_t>(rng() % 20'000);
      ASSERT_TRUE(l.Insert(id, finished));
      ASSERT_FALSE(l.Insert(id, finished));
      model.emplace(id, finished);
    }
    const std::int64_t cutoff = now - 200'000;
    l.EvictBefore(cutoff);
    std::erase_if(model, [&](const auto& e) { return e.second < cutoff; });
    for (const auto& [kept, finished] : model) ASSERT_TRUE(l.Contains(kept)) << kept << " forgotten too early";
    ASSERT_GE(l.size(), model.size());
    // Late by at most the blocks holding an id at or after the cutoff: at this
    // density, a block of 512 holds about 256 ids.
    ASSERT_LE(l.size(), model.size() + 2 * 512u) << "round " << round;
    ASSERT_LE(l.blocks() * 200, model.size() + 2 * 512u) << "round " << round;
  }
  EXPECT_TRUE(l.Insert(std::int64_t{-5}, now));  // negative ids have blocks too
  EXPECT_TRUE(l.Contains(std::int64_t{-5}));
  EXPECT_FALSE(l.Contains(std::int64_t{-4}));
  EXPECT_FALSE(l.Contains(std::int64_t{507}));
  l.EvictBefore(now + 1);
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.blocks(), 0u);
}

// Reads by id reach every id at or above their lowest, however old its time: the
// blocks holding such ids stay, the ones wholly below go.
TEST(RunLedgerTest, KeepsIdsAtOrAboveKeepFromIdWhateverTheirTime) {
  RunLedger l;
  for (std::int64_t id = 1; id <= 2000; ++id) EXPECT_TRUE(l.Insert(id, 100));
  l.EvictBefore(1000, 1500);  // every time is before the cutoff
  for (std::int64_t id = 1500; id <= 2000; ++id) EXPECT_TRUE(l.Contains(id)) << id;
  EXPECT_FALSE(l.Contains(std::int64_t{1})) << "a block wholly below 1500 is forgotten";
  EXPECT_LT(l.size(), 2000u);
  l.EvictBefore(1000);
  EXPECT_EQ(l.size(), 0u);
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
