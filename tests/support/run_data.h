#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "collectors/collector.h"
#include "core/clock.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_db.h"

namespace aee::testing {

/// Inserts 2 workspaces and 3 agents (2 in the first) with fixed ids.
void InsertWorkspacesAndAgents(TestDb& db);

inline constexpr const char* kWs1 = "11111111-1111-1111-1111-111111111111";
inline constexpr const char* kWs2 = "22222222-2222-2222-2222-222222222222";
inline constexpr const char* kAgent1 = "aaaaaaaa-0000-0000-0000-000000000001";
inline constexpr const char* kAgent2 = "aaaaaaaa-0000-0000-0000-000000000002";
inline constexpr const char* kAgent3 = "aaaaaaaa-0000-0000-0000-000000000003";

/// Inserts n finished runs with finished_at uniformly in [lo, hi) (timestamptz
/// SQL expressions): lognormal runtimes and queue waits, 80/15/5 % completed /
/// failed / cancelled, 2 % cancelled before starting, 10 % with the latency
/// columns NULL (derived from the timestamps). Deterministic for a seed.
void InsertFinishedRuns(TestDb& db, int n, const std::string& lo, const std::string& hi, double seed);

/// Checks that the runs collector's families equal SQL over the rows finished in
/// [lo, hi): counts per workspace/agent/status, runtime sums, and every bucket,
/// count and sum of the three histograms.
void ExpectRunsMatchSql(TestDb& db, const std::vector<prometheus::MetricFamily>& snapshot, const std::string& lo,
                        const std::string& hi);

/// The exactly-once collectors' two paths must agree: inserts rows (stamped a little
/// before `at`) and runs check on what a new collector's start-up aggregate makes of
/// them at `at`; then empties `table`, lets a new collector start a minute before
/// `at`, inserts the rows again and runs check on what its incremental reads make
/// of them 5 s after `at`.
void CheckStartupAndIncremental(TestDb& db, FakeClock& clock, Clock::time_point at, const std::string& table,
                                const std::string& rows, const std::function<std::unique_ptr<Collector>()>& make,
                                const std::function<void(const Snapshot&)>& check);

/// The frontier's late commit on the database's own clock: after c's start-up
/// cycle, late_sql is inserted in a transaction left open while early_sql is
/// inserted and read three times, 1.2 s apart (more than the 2 s clock slack in
/// total); then the late transaction commits. Returns the snapshots of the two
/// cycles after the commit. c runs on a SystemClock with the sweep off.
std::pair<Snapshot, Snapshot> CommitLateAfterNewerReads(TestDb& db, Collector& c, const std::string& late_sql,
                                                        const std::string& early_sql);

}  // namespace aee::testing
