#include "collectors/daily_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
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
size_t RunCycles(DailyWindow& w, std::int64_t start_us, int step, int total, int lag) {
  std::vector<Seen> seen;
  size_t largest = 0;
  std::int64_t next_id = 1;
  for (std::int64_t now = start_us + step * kSecondUs; now <= start_us + total * kSecondUs; now += step * kSecondUs) {
    const DailyWindow::Range range = w.NextRange(now);
    for (const Seen& s : seen) {
      if (s.ts_us >= range.from_us && s.ts_us < range.to_us) {
        EXPECT_FALSE(w.Record(s.id, s.ts_us)) << "id " << s.id << " re-read at +" << (now - start_us) / kSecondUs
                                              << " s would be counted again";
      }
    }
    const Seen fresh{"run-" + std::to_string(next_id++), now - lag * kSecondUs};
    EXPECT_TRUE(w.Record(fresh.id, fresh.ts_us));
    seen.push_back(fresh);
    w.Finish(range, now, DailyWindow::Bound{});
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

}  // namespace
}  // namespace aee
