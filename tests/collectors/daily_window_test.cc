#include "collectors/daily_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aee {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr std::int64_t kSecondUs = 1'000'000;

struct Seen {
  std::string id;  // text ids: the ledger forgets them exactly at the cutoff
  std::int64_t ts_us;
};

// Runs cycles every `step` seconds for `total` seconds, one new id per cycle stamped
// `lag` seconds before the cycle. Before each cycle every id the cycle's range can
// re-read must still be in the ledger (else it would be counted twice); returns the
// largest ledger seen.
// announced(cycle): whether that cycle holds a complete list of announced ids.
size_t RunCycles(DailyWindow& w, std::int64_t start_us, int step, int total, int lag,
                 const std::function<bool(int)>& announced = [](int) { return false; }) {
  std::vector<Seen> seen;
  size_t largest = 0;
  std::int64_t next_id = 1;
  int cycle = 0;
  for (std::int64_t now = start_us + step * kSecondUs; now <= start_us + total * kSecondUs; now += step * kSecondUs) {
    const bool complete = announced(cycle++);
    // The one id committed since the previous cycle (below) is the oldest announced.
    const DailyWindow::Range range =
        w.NextRange(now, complete ? std::optional(DailyWindow::Announced{now - lag * kSecondUs, std::nullopt}) : std::nullopt);
    for (const Seen& s : seen) {
      if (s.ts_us >= range.from_us && s.ts_us < range.to_us) {
        EXPECT_FALSE(w.Record(s.id, s.ts_us)) << "id " << s.id << " re-read at +" << (now - start_us) / kSecondUs
                                              << " s would be counted again";
      }
    }
    const Seen fresh{"run-" + std::to_string(next_id++), now - lag * kSecondUs};
    EXPECT_TRUE(w.Record(fresh.id, fresh.ts_us));
    seen.push_back(fresh);
    w.Finish(range, now, DailyWindow::Bound{}, complete);
    largest = std::max(largest, w.ledger_size());
  }
  return largest;
}

TEST(DailyWindowTest, KeepsEveryIdARangeCanReReadAndForgetsTheRest) {
  const std::int64_t start = DailyWindow::kDayUs * 20000 + 3600 * kSecondUs;
  DailyWindow w("runs", {minutes(1), minutes(5)}, nullptr);
  w.Start(start, DailyWindow::Bound{}, RunLedger{});
  const size_t largest = RunCycles(w, start, 5, 1800, 20);
  // Reachable: the lateness window before the last sweep plus the time since it,
  // plus clock slack; one id per 5 s cycle.
  EXPECT_LE(largest, static_cast<size_t>((60 + 300 + 4 + 20) / 5 + 2));
  EXPECT_GE(largest, static_cast<size_t>(300 / 5));
}

TEST(DailyWindowTest, WithoutSweepsTheLedgerHoldsOnlyTheLatenessWindow) {
  const std::int64_t start = DailyWindow::kDayUs * 20000 + 3600 * kSecondUs;
  DailyWindow w("runs", {minutes(1), milliseconds(0)}, nullptr);
  w.Start(start, DailyWindow::Bound{}, RunLedger{});
  const size_t largest = RunCycles(w, start, 5, 1800, 20);
  // Before, the never-moving sweep time pinned every id counted since the start.
  EXPECT_LE(largest, static_cast<size_t>((60 + 4 + 20) / 5 + 2));
}

// With a change feed (issue #16): while every cycle's list is complete, a cycle
// reads from the oldest announced timestamp (within the sweep's window), nothing
// when nothing was announced, and no frontier; an incomplete list means a range
// read, and the first complete list after one brings a sweep (the whole lateness
// window) at once, after which the announcements take over again.
TEST(DailyWindowTest, AnnouncedCyclesReadFromTheOldestAnnouncedAndAGapBringsOneSweep) {
  const std::int64_t start = DailyWindow::kDayUs * 20000 + 3600 * kSecondUs;
  const std::int64_t window = 300 * kSecondUs + DailyWindow::kClockSlackUs;
  DailyWindow w("runs", {minutes(5), minutes(5)}, nullptr);
  w.Start(start, DailyWindow::Bound{}, RunLedger{});
  std::int64_t now = start;
  auto cycle = [&](std::optional<DailyWindow::Announced> announced) {
    now += kSecondUs;
    const DailyWindow::Range r = w.NextRange(now, announced);
    w.Finish(r, now, DailyWindow::Bound{}, announced.has_value());
    return r;
  };
  DailyWindow::Range r = cycle(DailyWindow::Announced{start - 10 * kSecondUs, std::nullopt});
  EXPECT_TRUE(r.announced && !r.sweep);
  EXPECT_EQ(r.from_us, start - 10 * kSecondUs);
  r = cycle(DailyWindow::Announced{});
  EXPECT_TRUE(r.announced);
  EXPECT_GE(r.from_us, r.to_us) << "nothing announced: nothing to read";
  r = cycle(DailyWindow::Announced{start - 3600 * kSecondUs, std::nullopt});
  EXPECT_EQ(r.from_us, now - kSecondUs - window) << "older than the sweep's window: clamped to it";
  r = cycle(std::nullopt);  // a gap right after announcements: back the whole window
  EXPECT_TRUE(!r.announced && r.sweep);
  EXPECT_EQ(r.from_us, now - kSecondUs - window);
  r = cycle(std::nullopt);  // still incomplete: the fast path
  EXPECT_TRUE(!r.announced && !r.sweep);
  r = cycle(DailyWindow::Announced{now, std::nullopt});  // complete, but not since the last sweep: a sweep now
  EXPECT_TRUE(!r.announced && r.sweep);
  EXPECT_EQ(r.from_us, now - 2 * kSecondUs - window);
  r = cycle(DailyWindow::Announced{now, std::nullopt});
  EXPECT_TRUE(r.announced);
  EXPECT_EQ(r.from_us, now - kSecondUs);
}

// With every announced time known, an announced cycle reads only around them:
// times closer than kSpanGapUs make one span, times outside the range (older than
// the sweep's window, tomorrow's) none, and nothing when none is left.
TEST(DailyWindowTest, AnnouncedTimesAreReadAsSpans) {
  const std::int64_t start = DailyWindow::kDayUs * 20000 + 3600 * kSecondUs;
  const std::int64_t window = 300 * kSecondUs + DailyWindow::kClockSlackUs;
  const std::int64_t gap = DailyWindow::kSpanGapUs;
  DailyWindow w("runs", {minutes(5), minutes(5)}, nullptr);
  w.Start(start, DailyWindow::Bound{}, RunLedger{});
  const std::int64_t now = start + kSecondUs;
  const std::int64_t late = now - 4 * kSecondUs;  // a finish committed 4 s after it was stamped
  const std::int64_t old = now - 3600 * kSecondUs;  // before the sweep's window
  const std::int64_t tomorrow = DailyWindow::DayStart(now) + DailyWindow::kDayUs;
  const std::vector<std::int64_t> times = {old, late, now - 900'000, now - 900'000 + gap, now - 500'000,
                                           now - 500'000 + gap + 1, tomorrow};
  DailyWindow::Range r = w.NextRange(now, DailyWindow::Announced{old, times});
  EXPECT_TRUE(r.announced && !r.sweep);
  EXPECT_EQ(r.from_us, start - window) << "the oldest, clamped to the sweep's window";
  ASSERT_EQ(r.spans.size(), 4u);
  EXPECT_EQ(r.spans[0].lo_us, late);
  EXPECT_EQ(r.spans[0].hi_us, late);
  EXPECT_EQ(r.spans[1].lo_us, now - 900'000);
  EXPECT_EQ(r.spans[1].hi_us, now - 900'000 + gap) << "a gap of kSpanGapUs joins";
  EXPECT_EQ(r.spans[2].lo_us, now - 500'000);
  EXPECT_EQ(r.spans[2].hi_us, now - 500'000);
  EXPECT_EQ(r.spans[3].lo_us, now - 500'000 + gap + 1) << "one more microsecond does not";
  // Only times outside the range: nothing to read.
  r = w.NextRange(now, DailyWindow::Announced{old, std::vector<std::int64_t>{old, tomorrow}});
  EXPECT_TRUE(r.announced && r.spans.empty());
  EXPECT_GE(r.from_us, r.to_us);
  // Only the oldest known (too many times): the whole range from it, as before.
  r = w.NextRange(now, DailyWindow::Announced{late, std::nullopt});
  EXPECT_TRUE(r.announced && r.spans.empty());
  EXPECT_EQ(r.from_us, late);
}

// Announced cycles with gaps between them keep every id a read can reach in the
// ledger, and the ledger stays as small as with sweeps.
TEST(DailyWindowTest, AnnouncedCyclesKeepEveryIdAReadCanReach) {
  const std::int64_t start = DailyWindow::kDayUs * 20000 + 3600 * kSecondUs;
  DailyWindow w("runs", {minutes(1), minutes(5)}, nullptr);
  w.Start(start, DailyWindow::Bound{}, RunLedger{});
  const size_t largest = RunCycles(w, start, 5, 1800, 20, [](int cycle) { return cycle % 37 != 5 && cycle % 53 != 0; });
  EXPECT_LE(largest, static_cast<size_t>((60 + 300 + 4 + 20) / 5 + 2));
}

}  // namespace
}  // namespace aee

namespace aee {
namespace {

// A hot standby (issue #16): each range reaches the lateness back from the replay
// point, which only moves forward (a standby further behind, or an unknown point,
// never moves the frontier back past ids the ledger let go) and never past the
// exporter's clock; no sweeps, every read covers the window already.
TEST(DailyWindowTest, OnAStandbyEachRangeCoversTheLatenessBackFromTheReplayPoint) {
  const std::int64_t start = DailyWindow::kDayUs * 20000 + 3600 * kSecondUs;
  const std::int64_t reach = 60 * kSecondUs + DailyWindow::kClockSlackUs;  // lateness + slack
  DailyWindow w("runs", {minutes(1), minutes(5)}, nullptr);
  DailyWindow::Bound b;
  b.standby = true;
  b.replay_us = start - 30 * kSecondUs;
  EXPECT_EQ(w.ReadAt(b, start), start - 30 * kSecondUs);
  w.Start(start, b, RunLedger{});
  DailyWindow::Range r = w.NextRange(start + 5 * kSecondUs);
  EXPECT_EQ(r.from_us, start - 30 * kSecondUs - reach);
  EXPECT_FALSE(r.sweep);

  b.replay_us = start - 120 * kSecondUs;  // another standby, further behind
  w.Finish(r, start + 5 * kSecondUs, b);
  r = w.NextRange(start + 10 * kSecondUs);
  EXPECT_EQ(r.from_us, start - 30 * kSecondUs - reach);
  b.replay_us = 0;  // unknown
  w.Finish(r, start + 10 * kSecondUs, b);
  r = w.NextRange(start + 15 * kSecondUs);
  EXPECT_EQ(r.from_us, start - 30 * kSecondUs - reach);

  b.replay_us = start + 8 * kSecondUs;  // caught up
  w.Finish(r, start + 15 * kSecondUs, b);
  r = w.NextRange(start + 20 * kSecondUs);
  EXPECT_EQ(r.from_us, start + 8 * kSecondUs - reach);
  b.replay_us = start + 100 * kSecondUs;  // a primary clock ahead of ours
  w.Finish(r, start + 20 * kSecondUs, b);
  r = w.NextRange(start + 25 * kSecondUs);
  EXPECT_EQ(r.from_us, start + 20 * kSecondUs - reach);
  EXPECT_FALSE(r.sweep);

  // Unknown at a (re)start: the whole day.
  DailyWindow fresh("runs", {minutes(1), minutes(5)}, nullptr);
  b.replay_us = 0;
  EXPECT_EQ(fresh.ReadAt(b, start), DailyWindow::DayStart(start));
}

// Half an hour of 5 s cycles on a standby whose lag wanders between 0 and 50 s and
// sometimes jumps back: every id a range can re-read is still in the ledger, and
// the ledger stays bounded by the lateness window plus the lag.
TEST(DailyWindowTest, OnAStandbyTheLedgerKeepsEveryIdARangeCanReRead) {
  const std::int64_t start = DailyWindow::kDayUs * 20000 + 3600 * kSecondUs;
  DailyWindow w("runs", {minutes(1), minutes(5)}, nullptr);
  DailyWindow::Bound b;
  b.standby = true;
  b.replay_us = start;
  w.Start(start, b, RunLedger{});
  std::vector<Seen> seen;
  size_t largest = 0;
  int id = 0;
  for (int i = 1; i <= 360; ++i) {
    const std::int64_t now = start + i * 5 * kSecondUs;
    const DailyWindow::Range range = w.NextRange(now);
    for (const Seen& s : seen) {
      if (s.ts_us >= range.from_us && s.ts_us < range.to_us) {
        EXPECT_FALSE(w.Record(s.id, s.ts_us)) << "id " << s.id << " would be counted again at cycle " << i;
      }
    }
    b.replay_us = now - ((i * 7) % 11) * 5 * kSecondUs;  // 0 to 50 s behind, back and forth
    // A run the standby shows: committed before its replay point, stamped 5 s earlier.
    const Seen fresh{"run-" + std::to_string(++id), b.replay_us - 5 * kSecondUs};
    EXPECT_TRUE(w.Record(fresh.id, fresh.ts_us));
    seen.push_back(fresh);
    w.Finish(range, now, b);
    largest = std::max(largest, w.ledger_size());
  }
  EXPECT_LE(largest, static_cast<size_t>((60 + 50 + 4 + 5) / 5 + 2));
  EXPECT_GE(largest, static_cast<size_t>(60 / 5 - 2));
}

// Reading by id (model_calls.id from a sequence): the frontier becomes the last
// value of the newest sample of the sequence taken at or before it.
// db_now_s, oldest_s: seconds after kIdStart on the database's clock (no oldest:
// no other transaction open); the sample is taken just before the bound.
constexpr std::int64_t kIdStart = DailyWindow::kDayUs * 20000 + 3600 * kSecondUs;
DailyWindow::Bound IdBound(std::int64_t db_now_s, std::optional<std::int64_t> oldest_s, std::int64_t value) {
  DailyWindow::Bound b;
  b.db_now_us = kIdStart + db_now_s * kSecondUs;
  if (oldest_s) b.oldest_xact_us = kIdStart + *oldest_s * kSecondUs;
  b.id_sample = DailyWindow::IdSample{.db_us = b.db_now_us - 1000, .next_id = value};
  return b;
}

TEST(DailyWindowTest, ReadsByIdFromTheNewestSampleAtOrBeforeTheFrontier) {
  const std::int64_t start = kIdStart;
  DailyWindow w("models", {minutes(5), minutes(5)}, nullptr);
  // No other transaction open at the start: its own sample bounds what may commit.
  w.Start(start, IdBound(0, std::nullopt, 100), RunLedger{});
  DailyWindow::Range r = w.NextRange(start + 10 * kSecondUs);
  EXPECT_TRUE(r.by_id && !r.sweep && !r.announced);
  EXPECT_EQ(r.from_id, 100);
  EXPECT_EQ(r.from_us, DailyWindow::DayStart(start)) << "the whole day, from that id on";
  EXPECT_EQ(r.to_us, DailyWindow::DayStart(start) + DailyWindow::kDayUs);
  // A transaction that began at 5 s is still open: the newest sample taken at or
  // before it is the start's.
  w.Finish(r, start + 10 * kSecondUs, IdBound(10, 5, 200));
  r = w.NextRange(start + 20 * kSecondUs);
  EXPECT_TRUE(r.by_id);
  EXPECT_EQ(r.from_id, 100);
  w.Finish(r, start + 20 * kSecondUs, IdBound(20, 15, 300));
  r = w.NextRange(start + 30 * kSecondUs);
  EXPECT_EQ(r.from_id, 200) << "the sample of 10 s is the newest at or before 15 s";
  w.Finish(r, start + 30 * kSecondUs, IdBound(30, std::nullopt, 400));
  r = w.NextRange(start + 40 * kSecondUs);
  EXPECT_EQ(r.from_id, 400) << "nothing open: this read's own sample";
  // Never a sweep while reading by id, however long.
  for (int i = 5; i < 100; ++i) {
    r = w.NextRange(start + i * 10 * kSecondUs);
    EXPECT_TRUE(r.by_id && !r.sweep) << i;
    w.Finish(r, start + i * 10 * kSecondUs, IdBound(i * 10, std::nullopt, 100 * i));
  }
}

// A read by id sees every id it covers: the next one reads only the ids below the
// last sample it did not see (in transactions still open then) and everything from
// that sample on; a gap below the next frontier's id is dropped (its transaction
// ended without committing it).
TEST(DailyWindowTest, ReadsByIdOnlyTheGapsBelowTheLastSampleAndEverythingFromIt) {
  const std::int64_t start = kIdStart;
  DailyWindow w("models", {minutes(5), minutes(5)}, nullptr);
  w.Start(start, IdBound(0, std::nullopt, 100), RunLedger{});
  DailyWindow::Range r = w.NextRange(start + 10 * kSecondUs);
  ASSERT_TRUE(r.by_id);
  EXPECT_EQ(r.from_id, 100);
  EXPECT_EQ(r.hi_id, 100);
  EXPECT_TRUE(r.gaps.empty());
  auto ids = [](std::int64_t lo, std::int64_t hi, std::vector<std::int64_t> except) {
    std::vector<std::int64_t> out;
    for (std::int64_t id = lo; id < hi; ++id) {
      if (std::find(except.begin(), except.end(), id) == except.end()) out.push_back(id);
    }
    return out;
  };
  // 103 and 107 were handed out to a transaction open since 5 s, not visible yet.
  w.Finish(r, start + 10 * kSecondUs, IdBound(10, 5, 200), false, ids(100, 200, {103, 107}));
  r = w.NextRange(start + 20 * kSecondUs);
  ASSERT_TRUE(r.by_id);
  EXPECT_EQ(r.from_id, 100);
  EXPECT_EQ(r.hi_id, 200);
  EXPECT_EQ(r.gaps, (std::vector<std::int64_t>{103, 107}));
  // 103 committed, 107 was rolled back; nothing is open any more.
  std::vector<std::int64_t> read = ids(200, 300, {});
  read.insert(read.begin(), 103);
  w.Finish(r, start + 20 * kSecondUs, IdBound(20, std::nullopt, 300), false, read);
  r = w.NextRange(start + 30 * kSecondUs);
  EXPECT_EQ(r.from_id, 300);
  EXPECT_EQ(r.hi_id, 300);
  EXPECT_TRUE(r.gaps.empty()) << "107 is below the frontier's id";
  // Gaps dense below the sample (writes in flight) are read as part of the range; a
  // lone gap far below it is read by itself.
  w.Finish(r, start + 30 * kSecondUs, IdBound(30, 25, 400), false, ids(300, 400, {325, 390, 395, 398}));
  r = w.NextRange(start + 40 * kSecondUs);
  EXPECT_EQ(r.from_id, 300);
  EXPECT_EQ(r.hi_id, 390) << "3 gaps within 10 ids each of 400";
  EXPECT_EQ(r.gaps, (std::vector<std::int64_t>{325}));
  // A sweep by timestamp in between sees only some ids: the next read by id reads
  // everything from its frontier's id again.
  DailyWindow::Range by_timestamp = r;
  by_timestamp.by_id = false;
  by_timestamp.sweep = true;
  w.Finish(by_timestamp, start + 40 * kSecondUs, IdBound(40, std::nullopt, 500));
  r = w.NextRange(start + 50 * kSecondUs);
  ASSERT_TRUE(r.by_id);
  EXPECT_EQ(r.hi_id, r.from_id);
  EXPECT_TRUE(r.gaps.empty());
}

// A transaction left open does not make every read go back to it: the frontier is
// clamped to the lateness (and the clock slack) before the read.
TEST(DailyWindowTest, ReadsByIdClampTheFrontierToTheLateness) {
  const std::int64_t start = kIdStart;
  DailyWindow w("models", {minutes(1), minutes(5)}, nullptr);
  w.Start(start, IdBound(0, std::nullopt, 0), RunLedger{});
  std::int64_t value = 0;
  for (int i = 1; i <= 30; ++i) {
    const DailyWindow::Range r = w.NextRange(start + i * 10 * kSecondUs);
    ASSERT_TRUE(r.by_id);
    // Open since 1 s; a sample every 10 s, 10 ids apart.
    if (i * 10 > 62) {
      EXPECT_GE(r.from_id, (i * 10 - 62 - 10) / 10 * 10) << "within the lateness and one sample of the read";
    } else {
      EXPECT_EQ(r.from_id, 0);
    }
    value += 10;
    w.Finish(r, start + i * 10 * kSecondUs, IdBound(i * 10, 1, value));
  }
}

// Open transactions at the start (older than every sample): by timestamp until a
// sample is old enough, then one sweep (a read between sweeps may have left a
// commit stamped before its frontier), then by id. Sweeps off: no sweep needed.
TEST(DailyWindowTest, ReadsByIdOnlyAfterAReadThatLeftNothingBehind) {
  const std::int64_t start = kIdStart;
  for (const bool sweeps : {true, false}) {
    DailyWindow w("models", {minutes(5), sweeps ? minutes(5) : milliseconds(0)}, nullptr);
    w.Start(start, IdBound(0, -10, 100), RunLedger{});  // open since before the sample
    DailyWindow::Range r = w.NextRange(start + 10 * kSecondUs);
    EXPECT_TRUE(!r.by_id && !r.sweep) << "no sample at or before -10 s";
    w.Finish(r, start + 10 * kSecondUs, IdBound(10, std::nullopt, 200));  // that transaction ended
    r = w.NextRange(start + 20 * kSecondUs);
    if (sweeps) {
      EXPECT_TRUE(!r.by_id && r.sweep) << "a sweep first";
      w.Finish(r, start + 20 * kSecondUs, IdBound(20, std::nullopt, 300));
      r = w.NextRange(start + 30 * kSecondUs);
      EXPECT_TRUE(r.by_id);
      EXPECT_EQ(r.from_id, 300);
    } else {
      EXPECT_TRUE(r.by_id);
      EXPECT_EQ(r.from_id, 200);
    }
  }
}

// No frontier to map: on a standby, with other roles' sessions hidden, or without
// samples, every read is by timestamp; a sequence set back starts over.
TEST(DailyWindowTest, ReadsByTimestampWithoutAFrontierOrAfterTheSequenceWentBack) {
  const std::int64_t start = kIdStart;
  DailyWindow::Bound hidden = IdBound(0, std::nullopt, 100);
  hidden.hidden_sessions = true;
  DailyWindow::Bound standby = IdBound(0, std::nullopt, 100);
  standby.standby = true;
  standby.replay_us = start;
  for (const DailyWindow::Bound& b : {hidden, standby, DailyWindow::Bound{}}) {
    DailyWindow w("models", {minutes(5), minutes(5)}, nullptr);
    w.Start(start, b, RunLedger{});
    for (int i = 1; i < 40; ++i) {
      const DailyWindow::Range r = w.NextRange(start + i * 10 * kSecondUs);
      EXPECT_FALSE(r.by_id) << i;
      w.Finish(r, start + i * 10 * kSecondUs, b);
    }
  }
  DailyWindow w("models", {minutes(5), minutes(5)}, nullptr);
  w.Start(start, IdBound(0, std::nullopt, 500), RunLedger{});
  DailyWindow::Range r = w.NextRange(start + 10 * kSecondUs);
  ASSERT_TRUE(r.by_id);
  w.Finish(r, start + 10 * kSecondUs, IdBound(10, std::nullopt, 5));  // ALTER SEQUENCE … RESTART
  r = w.NextRange(start + 20 * kSecondUs);
  EXPECT_TRUE(!r.by_id && r.sweep) << "one sweep, then by id from the new values";
  w.Finish(r, start + 20 * kSecondUs, IdBound(20, std::nullopt, 9));
  r = w.NextRange(start + 30 * kSecondUs);
  EXPECT_TRUE(r.by_id);
  EXPECT_EQ(r.from_id, 9);
}

// The ledger keeps every id a read by id can reach, however old its created_at (an
// application stamps a call long before its row commits), and forgets the rest.
TEST(DailyWindowTest, ReadsByIdKeepEveryIdTheyCanReachInTheLedger) {
  const std::int64_t start = kIdStart;
  DailyWindow w("models", {minutes(1), minutes(1)}, nullptr);
  w.Start(start, IdBound(0, std::nullopt, 0), RunLedger{});
  std::int64_t next_id = 1;
  for (int i = 1; i <= 60; ++i) {
    const std::int64_t now = start + i * 10 * kSecondUs;
    const DailyWindow::Range r = w.NextRange(now);
    ASSERT_TRUE(r.by_id);
    for (std::int64_t id = std::max<std::int64_t>(r.from_id, 1); id < next_id; ++id) {
      EXPECT_FALSE(w.Record(id, start - 3600 * kSecondUs)) << "id " << id << " re-read at cycle " << i;
    }
    // 10 new calls a cycle, stamped an hour back; a transaction open for 30 s.
    for (int k = 0; k < 10; ++k) EXPECT_TRUE(w.Record(next_id++, start - 3600 * kSecondUs));
    w.Finish(r, now, IdBound(i * 10, std::max(0, i * 10 - 30), next_id - 1));
  }
  EXPECT_LE(w.ledger_size(), 1024u) << "two 512-id blocks at most: the rest was forgotten";
}

}  // namespace
}  // namespace aee
