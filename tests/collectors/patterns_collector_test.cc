// Integration tests of the patterns collector against a real PostgreSQL.
#include "collectors/patterns_collector.h"

#include <gtest/gtest.h>

#include "core/db.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using testing::Find;
using testing::InsertFinishedRuns;
using testing::kNoon;
using testing::kWs1;
using testing::kWs2;
using testing::SeriesCount;
using testing::Value;

// Expected patterns computed in SQL with calendar arithmetic on local dates
// (independent of the collector's day numbers and cache): window = the `days`
// local dates before `today`.
void ExpectPatternsMatchSql(testing::TestDb& db, const Snapshot& snap, const std::string& tz, const std::string& today,
                            int days) {
  EXPECT_EQ(Value(snap, "agent_executions_pattern_window_seconds", {}), days * 86400.0);
  const std::string window = "(DATE '" + today + "' - " + std::to_string(days) + ")";
  const std::string runs =
      "WITH r AS (SELECT workspace_id::text AS ws, status, finished_at AT TIME ZONE '" + tz + "' AS local, "
      "coalesce(total_latency_seconds, extract(epoch FROM finished_at - queued_at)::float8) AS e2e FROM agent_runs "
      "WHERE workspace_id IS NOT NULL AND status IN ('completed', 'failed', 'cancelled') "
      "AND (finished_at AT TIME ZONE '" + tz + "')::date >= " + window + " AND (finished_at AT TIME ZONE '" + tz +
      "')::date < DATE '" + today + "'), "
      "hours AS (SELECT w.id::text AS ws, h FROM workspaces w, generate_series(0, 23) h), "
      "per_hour AS (SELECT hours.ws, hours.h, count(r.ws) AS n, count(r.ws) FILTER (WHERE r.status = 'completed') AS ok, "
      "avg(r.e2e) FILTER (WHERE r.e2e >= 0) AS lat FROM hours LEFT JOIN r ON r.ws = hours.ws "
      "AND extract(hour FROM r.local) = hours.h GROUP BY 1, 2) ";
  size_t checked = 0;
  for (const auto& row : db.Query(
           runs + "SELECT ws, h, n, ok, lat, row_number() OVER (PARTITION BY ws ORDER BY n DESC, h), "
                  "row_number() OVER (PARTITION BY ws ORDER BY n, h) FROM per_hour")) {
    const std::string ws = row[0].c_str(), hour = row[1].c_str();
    const double n = row[2].as<double>();
    EXPECT_DOUBLE_EQ(Value(snap, "agent_executions_hour_of_day_average", {{"workspace_id", ws}, {"hour", hour}}),
                     n / days)
        << ws << " " << hour;
    if (n > 0) {
      EXPECT_DOUBLE_EQ(Value(snap, "agent_executions_hour_of_day_success_ratio", {{"workspace_id", ws}, {"hour", hour}}),
                       row[3].as<double>() / n);
      EXPECT_NEAR(Value(snap, "agent_executions_hour_of_day_latency_seconds_avg", {{"workspace_id", ws}, {"hour", hour}}),
                  row[4].as<double>(), 1e-6);
    } else {
      EXPECT_FALSE(Find(snap, "agent_executions_hour_of_day_success_ratio", {{"workspace_id", ws}, {"hour", hour}}));
    }
    const int peak_rank = row[5].as<int>(), quiet_rank = row[6].as<int>();
    if (peak_rank <= 3 && n > 0) {
      EXPECT_DOUBLE_EQ(Value(snap, "agent_executions_peak_hour",
                             {{"workspace_id", ws}, {"hour", hour}, {"rank", std::to_string(peak_rank)}}),
                       n / days);
    }
    if (quiet_rank <= 3) {
      EXPECT_DOUBLE_EQ(Value(snap, "agent_executions_quiet_hour",
                             {{"workspace_id", ws}, {"hour", hour}, {"rank", std::to_string(quiet_rank)}}),
                       n / days);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 48u);
  EXPECT_LE(SeriesCount(snap, "agent_executions_peak_hour"), 6u);
  EXPECT_EQ(SeriesCount(snap, "agent_executions_quiet_hour"), 6u);
  for (const auto& row : db.Query(
           runs + ", days AS (SELECT d::date AS d FROM generate_series(" + window + ", DATE '" + today +
                  "' - 1, interval '1 day') d) "
                  "SELECT w.id::text, (SELECT count(*) FROM r WHERE r.ws = w.id::text), "
                  "(SELECT count(*) FROM r WHERE r.ws = w.id::text AND extract(isodow FROM r.local) <= 5), "
                  "(SELECT count(*) FROM r WHERE r.ws = w.id::text AND extract(isodow FROM r.local) > 5), "
                  "(SELECT count(*) FROM days WHERE extract(isodow FROM d) <= 5), "
                  "(SELECT count(*) FROM days WHERE extract(isodow FROM d) > 5) FROM workspaces w")) {
    const std::string ws = row[0].c_str();
    EXPECT_DOUBLE_EQ(Value(snap, "agent_executions_daily_average", {{"workspace_id", ws}}), row[1].as<double>() / days);
    if (row[4].as<int>() > 0) {
      EXPECT_DOUBLE_EQ(Value(snap, "agent_executions_weekday_average", {{"workspace_id", ws}}),
                       row[2].as<double>() / row[4].as<double>());
    } else {
      EXPECT_FALSE(Find(snap, "agent_executions_weekday_average", {{"workspace_id", ws}}));
    }
    if (row[5].as<int>() > 0) {
      EXPECT_DOUBLE_EQ(Value(snap, "agent_executions_weekend_average", {{"workspace_id", ws}}),
                       row[3].as<double>() / row[5].as<double>());
    } else {
      EXPECT_FALSE(Find(snap, "agent_executions_weekend_average", {{"workspace_id", ws}}));
    }
  }
}

// Whole window in one cycle whatever the machine's speed (the budget has its own test).
PatternsCollectorOptions Unbudgeted() {
  PatternsCollectorOptions opts;
  opts.cycle_budget = std::chrono::hours(1);
  return opts;
}

class PatternsCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::InsertWorkspacesAndAgents(db_); }
  PatternsCollector Make(PatternsCollectorOptions opts = Unbudgeted(), const SteadyClock* steady = nullptr) {
    CollectorContext ctx = testing::Ctx(clock_);
    if (steady != nullptr) ctx.steady_clock = steady;
    return PatternsCollector(ctx, opts);
  }
  DbSession Session() { return DbSession(db_.url(), "test"); }
  testing::TestDb db_;
  FakeClock clock_{kNoon};
};

TEST_F(PatternsCollectorTest, NoHistoryMeansNoAverages) {
  InsertFinishedRuns(db_, 50, "'2026-03-10 00:00:00+00'", "'2026-03-10 11:00:00+00'", 0.1);  // today only
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  EXPECT_EQ(Value(snap, "agent_executions_pattern_window_seconds", {}), 0);
  EXPECT_EQ(SeriesCount(snap, "agent_executions_hour_of_day_average"), 0u);
  EXPECT_EQ(SeriesCount(snap, "agent_executions_daily_average"), 0u);
  EXPECT_EQ(SeriesCount(snap, "agent_executions_peak_hour"), 0u);
}

TEST_F(PatternsCollectorTest, LookbackWindowMatchesSql) {
  InsertFinishedRuns(db_, 6000, "'2026-01-20 00:00:00+00'", "'2026-03-10 11:59:00+00'", 0.2);
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 28);
  EXPECT_GT(Value(snap, "agent_exporter_rows_read_total", {{"collector", "patterns"}, {"scan", "day"}}), 0);
}

TEST_F(PatternsCollectorTest, ShortHistoryDividesByTheDaysSinceTheFirstRun) {
  // First run on Saturday 2026-03-07: L = 3 (Sat, Sun, Mon); 1 weekday, 2 weekend days.
  InsertFinishedRuns(db_, 900, "'2026-03-07 10:00:00+00'", "'2026-03-10 11:00:00+00'", 0.3);
  db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, finished_at) VALUES "
                       "(gen_random_uuid(), NULL, NULL, 'completed', '2026-03-08 10:00:00+00'), "
                       "(gen_random_uuid(), '") + kWs1 + "', NULL, 'exploded', '2026-03-08 10:00:00+00')");
  PatternsCollectorOptions opts = Unbudgeted();
  opts.lookback_days = 7;
  auto c = Make(opts);
  auto s = Session();
  auto snap = c.Collect(s);
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 3);
}

TEST_F(PatternsCollectorTest, BudgetedStartUpReadsNewestDaysFirstAndCompletesTheWindow) {
  InsertFinishedRuns(db_, 6000, "'2026-01-20 00:00:00+00'", "'2026-03-10 11:59:00+00'", 0.25);
  PatternsCollectorOptions opts;
  opts.cycle_budget = std::chrono::milliseconds(0);  // one hour slice per cycle
  auto c = Make(opts);
  auto s = Session();
  Snapshot snap = c.Collect(s);
  EXPECT_TRUE(c.HasPendingWork());
  EXPECT_EQ(Value(snap, "agent_executions_pattern_window_seconds", {}), 0);  // no whole day yet
  int cycles = 1;
  while (cycles < 24) {
    snap = c.Collect(s);
    ++cycles;
  }
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 1);  // yesterday alone so far
  while (c.HasPendingWork() && cycles < 1000) {
    snap = c.Collect(s);
    ++cycles;
  }
  EXPECT_EQ(cycles, 28 * 24);
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 28);
  EXPECT_FALSE(c.HasPendingWork());
}

// The budget is measured on the injected steady clock: read once when the cycle
// starts, then before every hour slice after the first. With 250 ms and a clock
// that moves 100 ms a read, a cycle reads slices at +0 (the first is always read),
// +100 and +200, and stops at +300: three slices, 8 cycles a day, 224 for 28 days.
TEST_F(PatternsCollectorTest, CycleBudgetIsMeasuredOnTheSteadyClock) {
  InsertFinishedRuns(db_, 3000, "'2026-01-20 00:00:00+00'", "'2026-03-10 11:59:00+00'", 0.35);
  TickingSteadyClock steady(std::chrono::milliseconds(100));
  PatternsCollectorOptions opts;
  opts.cycle_budget = std::chrono::milliseconds(250);
  auto c = Make(opts, &steady);
  auto s = Session();
  Snapshot snap;
  int cycles = 0;
  for (; cycles < 7; ++cycles) snap = c.Collect(s);
  EXPECT_TRUE(c.HasPendingWork());
  EXPECT_EQ(Value(snap, "agent_executions_pattern_window_seconds", {}), 0) << "21 of yesterday's 24 slices read";
  snap = c.Collect(s);
  ++cycles;
  EXPECT_EQ(Value(snap, "agent_executions_pattern_window_seconds", {}), 86400) << "yesterday complete at 24 slices";
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 1);
  while (c.HasPendingWork() && cycles < 1000) {
    snap = c.Collect(s);
    ++cycles;
  }
  EXPECT_EQ(cycles, 28 * 24 / 3);
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 28);

  // On a clock that does not move the budget never runs out: a fresh collector
  // reads the whole window in its first cycle.
  TickingSteadyClock frozen(std::chrono::milliseconds(0));
  auto whole = Make(opts, &frozen);
  snap = whole.Collect(s);
  EXPECT_FALSE(whole.HasPendingWork());
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 28);
}

// Issue #16: at 2 000 workspaces the families are ~130 000 series, and the start-up
// history used to rebuild them all after every budgeted hour slice. A slice that
// completes no day changes nothing but rows_read, so the families are built once
// per day read completely (and when the workspaces change), and what the cycles in
// between publish is the same exposition.
TEST_F(PatternsCollectorTest, BudgetedStartUpBuildsTheFamiliesOncePerDayNotPerSlice) {
  db_.Exec("INSERT INTO workspaces (id, name) SELECT gen_random_uuid(), 'many-' || g FROM generate_series(1, 300) g");
  db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, status, queued_at, finished_at, total_latency_seconds) "
           "SELECT gen_random_uuid(), w.id, CASE WHEN (d + h) % 5 = 0 THEN 'failed' ELSE 'completed' END, "
           "t - interval '20 seconds', t, 20 + (d + h) % 7 "
           "FROM workspaces w, generate_series(1, 8) d, generate_series(0, 23, 5) h, "
           "LATERAL (SELECT TIMESTAMPTZ '2026-03-10 00:00:00+00' - make_interval(days => d) "
           "+ make_interval(hours => h, mins => length(w.name))) x(t)");
  PatternsCollectorOptions opts;
  opts.lookback_days = 7;
  opts.cycle_budget = std::chrono::milliseconds(0);  // one hour slice per cycle
  auto c = Make(opts);
  auto s = Session();
  Snapshot snap = c.Collect(s);
  EXPECT_EQ(c.family_builds(), 1u);  // the empty window, every workspace without averages
  std::string previous = testing::Text(snap, "agent_executions");
  int cycles = 1;
  while (c.HasPendingWork() && cycles < 1000) {
    const std::uint64_t builds = c.family_builds();
    snap = c.Collect(s);
    ++cycles;
    const std::string text = testing::Text(snap, "agent_executions");
    if (cycles % 24 != 0) {
      EXPECT_EQ(c.family_builds(), builds) << "cycle " << cycles << " completed no day";
      EXPECT_EQ(text, previous) << "cycle " << cycles;
    } else {
      EXPECT_EQ(c.family_builds(), builds + 1) << "cycle " << cycles << " completed a day";
      EXPECT_EQ(Value(snap, "agent_executions_pattern_window_seconds", {}), cycles / 24 * 86400.0);
    }
    previous = text;
  }
  EXPECT_EQ(cycles, 7 * 24);
  EXPECT_EQ(c.family_builds(), 1u + 7u);  // not one per cycle (168)
  EXPECT_EQ(SeriesCount(snap, "agent_executions_hour_of_day_average"), 302u * 24u);

  // The same exposition as a collector that read the whole window in one cycle.
  PatternsCollectorOptions unbudgeted = Unbudgeted();
  unbudgeted.lookback_days = 7;
  auto whole = Make(unbudgeted);
  Snapshot reference = whole.Collect(s);
  EXPECT_EQ(whole.family_builds(), 1u);
  EXPECT_EQ(testing::Text(snap, "agent_executions"), testing::Text(reference, "agent_executions"));
  EXPECT_EQ(Value(snap, "agent_exporter_rows_read_total", {{"collector", "patterns"}, {"scan", "day"}}),
            Value(reference, "agent_exporter_rows_read_total", {{"collector", "patterns"}, {"scan", "day"}}));

  // A cycle that reads nothing builds nothing; a new workspace is shown at once.
  snap = c.Collect(s);
  EXPECT_EQ(c.family_builds(), 8u);
  EXPECT_EQ(testing::Text(snap, "agent_executions"), testing::Text(reference, "agent_executions"));
  db_.Exec("INSERT INTO workspaces (id, name) VALUES (gen_random_uuid(), 'late')");
  snap = c.Collect(s);
  EXPECT_EQ(c.family_builds(), 9u);
  EXPECT_EQ(SeriesCount(snap, "agent_executions_hour_of_day_average"), 303u * 24u);
}

TEST_F(PatternsCollectorTest, WhileStartingUpACycleReadsNoHistory) {
  InsertFinishedRuns(db_, 3000, "'2026-01-20 00:00:00+00'", "'2026-03-10 11:59:00+00'", 0.25);
  auto c = Make();
  auto s = Session();
  c.SetStartingUp(true);
  Snapshot snap = c.Collect(s);
  EXPECT_TRUE(c.HasPendingWork());
  EXPECT_EQ(Value(snap, "agent_executions_pattern_window_seconds", {}), 0);
  EXPECT_EQ(Value(snap, "agent_exporter_rows_read_total", {{"collector", "patterns"}, {"scan", "day"}}), 0);
  c.SetStartingUp(false);
  snap = c.Collect(s);
  EXPECT_FALSE(c.HasPendingWork());
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 28);
}

TEST_F(PatternsCollectorTest, PeakAndQuietHoursAreRankedDeterministically) {
  // Hand-placed: in ws1, 14h has 6 runs, 9h and 10h 4 each (tie: earlier hour first),
  // over 2 days of history; every other hour is quiet at 0 (ranks 0h, 1h, 2h).
  std::string values;
  auto add = [&](const std::string& ts, int n) {
    for (int i = 0; i < n; ++i) {
      values += std::string(values.empty() ? "" : ",") + "(gen_random_uuid(), '" + kWs1 + "', '" +
                testing::kAgent1 + "', 'completed', '" + ts + "'::timestamptz - interval '5 s', '" + ts + "')";
    }
  };
  add("2026-03-08 14:10:00+00", 3);
  add("2026-03-09 14:20:00+00", 3);
  add("2026-03-08 09:00:00+00", 4);
  add("2026-03-09 10:59:59+00", 4);
  db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, finished_at) VALUES " + values);
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  EXPECT_EQ(Value(snap, "agent_executions_peak_hour", {{"workspace_id", kWs1}, {"hour", "14"}, {"rank", "1"}}), 3);
  EXPECT_EQ(Value(snap, "agent_executions_peak_hour", {{"workspace_id", kWs1}, {"hour", "9"}, {"rank", "2"}}), 2);
  EXPECT_EQ(Value(snap, "agent_executions_peak_hour", {{"workspace_id", kWs1}, {"hour", "10"}, {"rank", "3"}}), 2);
  EXPECT_EQ(Value(snap, "agent_executions_quiet_hour", {{"workspace_id", kWs1}, {"hour", "0"}, {"rank", "1"}}), 0);
  EXPECT_EQ(Value(snap, "agent_executions_quiet_hour", {{"workspace_id", kWs1}, {"hour", "2"}, {"rank", "3"}}), 0);
  EXPECT_EQ(SeriesCount(snap, "agent_executions_peak_hour"), 3u);  // ws2 had no runs: no peak hours
  EXPECT_DOUBLE_EQ(Value(snap, "agent_executions_hour_of_day_latency_seconds_avg", {{"workspace_id", kWs1}, {"hour", "14"}}), 5);
  EXPECT_EQ(Value(snap, "agent_executions_daily_average", {{"workspace_id", kWs1}}), 7);
  EXPECT_EQ(Value(snap, "agent_executions_daily_average", {{"workspace_id", kWs2}}), 0);
  EXPECT_EQ(Value(snap, "agent_executions_weekday_average", {{"workspace_id", kWs1}}), 7);  // Monday 03-09
  EXPECT_EQ(Value(snap, "agent_executions_weekend_average", {{"workspace_id", kWs1}}), 7);  // Sunday 03-08
  ExpectPatternsMatchSql(db_, snap, "UTC", "2026-03-10", 2);
}

TEST_F(PatternsCollectorTest, PastDaysAreReadOnceAndTheNewDayJoinsAfterMidnight) {
  InsertFinishedRuns(db_, 3000, "'2026-02-01 00:00:00+00'", "'2026-03-10 11:59:00+00'", 0.4);
  auto c = Make();
  auto s = Session();
  auto first = c.Collect(s);
  const double read = Value(first, "agent_exporter_rows_read_total", {{"collector", "patterns"}, {"scan", "day"}});
  clock_.Advance(minutes(5));
  auto second = c.Collect(s);
  EXPECT_EQ(Value(second, "agent_exporter_rows_read_total", {{"collector", "patterns"}, {"scan", "day"}}), read);  // nothing re-read
  EXPECT_EQ(testing::Text(second, "agent_executions"), testing::Text(first, "agent_executions"));

  // Five minutes after midnight yesterday (03-10) joins the window; a run committing
  // late into yesterday is still picked up until the day settles.
  clock_.Set(Clock::time_point(seconds(1773187200 + 300)));  // 2026-03-11 00:05
  auto after = c.Collect(s);
  ExpectPatternsMatchSql(db_, after, "UTC", "2026-03-11", 28);
  InsertFinishedRuns(db_, 10, "'2026-03-10 23:59:00+00'", "'2026-03-10 23:59:59+00'", 0.41);
  clock_.Set(Clock::time_point(seconds(1773187200 + 600)));
  ExpectPatternsMatchSql(db_, c.Collect(s), "UTC", "2026-03-11", 28);
  clock_.Set(Clock::time_point(seconds(1773187200 + 1200)));  // settled: read one last time
  ExpectPatternsMatchSql(db_, c.Collect(s), "UTC", "2026-03-11", 28);
  const double settled = Value(c.Collect(s), "agent_exporter_rows_read_total", {{"collector", "patterns"}, {"scan", "day"}});
  clock_.Advance(minutes(5));
  EXPECT_EQ(Value(c.Collect(s), "agent_exporter_rows_read_total", {{"collector", "patterns"}, {"scan", "day"}}), settled);
}

TEST_F(PatternsCollectorTest, TimeZoneShiftsHoursAndDaysAcrossDst) {
  // America/New_York switched to summer time on Sunday 2026-03-08 (a 23-hour day);
  // now is 08:00 local on 03-10.
  InsertFinishedRuns(db_, 4000, "'2026-02-20 00:00:00+00'", "'2026-03-10 11:59:00+00'", 0.5);
  PatternsCollectorOptions opts = Unbudgeted();  // the whole window in one cycle, however busy the machine
  opts.lookback_days = 14;
  opts.timezone = "America/New_York";
  auto c = Make(opts);
  auto s = Session();
  ExpectPatternsMatchSql(db_, c.Collect(s), "America/New_York", "2026-03-10", 14);
}

TEST_F(PatternsCollectorTest, InvalidTimeZoneFailsTheCycleCleanly) {
  PatternsCollectorOptions opts;
  opts.timezone = "Mars/Olympus";
  auto c = Make(opts);
  auto s = Session();
  try {
    c.Collect(s);
    ADD_FAILURE() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("Mars/Olympus"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aee
