// The exposition of every collector over fixed rows at a fixed time, compared with
// tests/fixtures/exposition.golden.prom: any change to a family's name, labels,
// help, type, value or order shows up as a diff of that file.
//
// After an intended change, regenerate it and review the diff:
//   AEE_UPDATE_GOLDEN=1 build/tests/integration_tests --gtest_filter='GoldenExposition*'
// (the test then writes the file and passes; it needs AEE_TEST_DB_URL like the other
// integration tests: run it under ctest -R GoldenExposition -V once, or point it at
// a PostgreSQL of your own).
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "collectors/options.h"
#include "collectors/registry.h"
#include "core/db.h"
#include "core/exposition.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using testing::At;
using testing::kAgent1;
using testing::kAgent2;
using testing::kAgent3;
using testing::kNoon;
using testing::kWs1;
using testing::kWs2;

constexpr const char* kGoldenPath = "tests/fixtures/exposition.golden.prom";

// Fixed rows: runs finished today and on the 27 days before (patterns), runs
// running and queued now, workers with heartbeats, model calls. Every id that can
// become a label value is spelled out; the rest are drawn from a seeded generator.
void InsertFixedRows(testing::TestDb& db) {
  testing::InsertWorkspacesAndAgents(db);
  testing::InsertFinishedRuns(db, 400, At("-11 hours"), At("-1 minute"), 0.25);
  testing::InsertFinishedRuns(db, 300, At("-20 days"), At("-1 day"), 0.5);
  db.Exec(std::string(
              "INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, "
              "estimated_runtime) VALUES "
              "('bbbbbbbb-0000-0000-0000-000000000001', '") +
          kWs1 + "', '" + kAgent1 + "', 'running', " + At("-10 minutes") + ", " + At("-9 minutes") +
          ", 60), "
          "('bbbbbbbb-0000-0000-0000-000000000002', '" +
          kWs1 + "', '" + kAgent2 + "', 'running', " + At("-50 seconds") + ", " + At("-40 seconds") +
          ", 30), "
          "('bbbbbbbb-0000-0000-0000-000000000003', '" +
          kWs2 + "', '" + kAgent3 + "', 'running', " + At("-5 seconds") + ", " + At("-2 seconds") + ", NULL)");
  db.Exec(std::string("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, run_id, priority, status, "
                      "queued_at) VALUES "
                      "('cccccccc-0000-0000-0000-000000000001', '") +
          kWs1 + "', '" + kAgent1 + "', NULL, 5, 'queued', " + At("-30 seconds") + "), " +
          "('cccccccc-0000-0000-0000-000000000002', '" + kWs1 + "', '" + kAgent2 + "', NULL, 1, 'queued', " +
          At("-12 seconds") + "), " + "('cccccccc-0000-0000-0000-000000000003', '" + kWs2 + "', '" + kAgent3 +
          "', NULL, 0, 'dispatched', " + At("-3 seconds") + ")");
  db.Exec(std::string("INSERT INTO workers (worker_id, workspace_id, status, capacity, cpu_percent, memory_percent, "
                      "gpu_percent, last_heartbeat) VALUES "
                      "('w-1', '") +
          kWs1 + "', 'busy', 4, 72.5, 40, NULL, " + At("-5 seconds") + "), ('w-2', '" + kWs1 + "', 'idle', 2, 3, 20, 0, " +
          At("-10 seconds") + "), ('w-3', NULL, 'busy', 8, 90, 65.5, 80, " + At("-2 seconds") +
          "), ('w-4', NULL, 'busy', 1, 10, 10, NULL, " + At("-10 minutes") + ")");
  db.Exec(std::string("INSERT INTO model_calls (run_id, workspace_id, agent_id, model, prompt_tokens, "
                      "completion_tokens, latency_seconds, cost_usd, created_at) "
                      "SELECT NULL, CASE WHEN i % 3 = 0 THEN '") +
          kWs2 + "'::uuid ELSE '" + kWs1 + "'::uuid END, '" + kAgent1 +
          "', CASE WHEN i % 4 = 0 THEN 'small-model' ELSE 'large-model' END, 100 + i, "
          "CASE WHEN i % 10 = 0 THEN NULL ELSE 20 + i END, 0.1 * (i % 37), round(0.0001 * i, 7), " +
          At("-3 hours") + " + make_interval(secs => i * 7) FROM generate_series(1, 500) i");
}

// Every collector of the table with its default options, except `database`
// (pg_stat_* figures of a live server cannot be fixed), run at kNoon until no work
// is pending, their families merged as a scrape shows them.
std::string Exposition(testing::TestDb& db) {
  FakeClock clock(kNoon);
  std::vector<prometheus::MetricFamily> all;
  for (const auto& entry : CollectorTable()) {
    if (entry.name == "database") continue;
    CollectorContext ctx = testing::Ctx(clock);
    std::unique_ptr<Collector> collector = entry.create(ctx, CollectorOptions{});
    DbSession session(db.url(), "golden/" + std::string(entry.name));
    Snapshot snapshot = collector->Collect(session);
    for (int cycle = 0; collector->HasPendingWork() && cycle < 100; ++cycle) snapshot = collector->Collect(session);
    for (auto& f : snapshot) all.push_back(std::move(f));
  }
  return SerializeText(MergeFamilies(std::move(all)));
}

TEST(GoldenExpositionTest, EveryCollectorsExpositionEqualsTheFixture) {
  testing::TestDb db;
  InsertFixedRows(db);
  const std::string text = Exposition(db);
  ASSERT_FALSE(text.empty());
  const std::string path = std::string(AEE_SOURCE_DIR) + "/" + kGoldenPath;
  if (const char* update = std::getenv("AEE_UPDATE_GOLDEN"); update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << text;
    GTEST_SKIP() << "wrote " << kGoldenPath << ": review its diff";
  }
  const std::string golden = testing::ReadSourceFile(kGoldenPath);
  if (text == golden) return;
  // Name the first line that differs, then show both whole for the diff.
  std::istringstream got(text), want(golden);
  std::string g, w;
  int line = 0;
  while (true) {
    ++line;
    const bool more_g = static_cast<bool>(std::getline(got, g));
    const bool more_w = static_cast<bool>(std::getline(want, w));
    if (!more_g && !more_w) break;
    if (g != w || more_g != more_w) {
      ADD_FAILURE() << kGoldenPath << " line " << line << ":\n  fixture: " << (more_w ? w : "<end>")
                    << "\n  now:     " << (more_g ? g : "<end>")
                    << "\nIf the change is intended, regenerate the fixture (see the top of this test).";
      break;
    }
  }
}

// Run twice over the same rows, the exposition is the same: nothing in it depends
// on the order rows come back in or on wall time.
TEST(GoldenExpositionTest, TheExpositionIsDeterministic) {
  testing::TestDb db1;
  InsertFixedRows(db1);
  const std::string first = Exposition(db1);
  testing::TestDb db2;
  InsertFixedRows(db2);
  EXPECT_EQ(Exposition(db2), first);
}

}  // namespace
}  // namespace aee
