// Integration tests of the workers collector against a real PostgreSQL.
#include "collectors/workers_collector.h"

#include <gtest/gtest.h>

#include "core/db.h"
#include "exporter/config.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using testing::At;
using testing::Find;
using testing::kNoon;
using testing::kWs1;
using testing::kWs2;
using testing::SeriesCount;
using testing::Value;

class WorkersCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::InsertWorkspacesAndAgents(db_); }
  Snapshot Collect(WorkersCollectorOptions opts = {}) {
    CollectorContext ctx = testing::Ctx(clock_);
    WorkersCollector c(ctx, opts);
    DbSession s(db_.url(), "test");
    return c.Collect(s);
  }
  // id, workspace (SQL, NULL for the shared pool), status, capacity, cpu, mem, gpu, heartbeat (SQL)
  void Worker(const std::string& id, const std::string& ws, const std::string& status, const std::string& capacity,
              const std::string& cpu, const std::string& mem, const std::string& gpu, const std::string& heartbeat) {
    db_.Exec("INSERT INTO workers (worker_id, workspace_id, status, capacity, cpu_percent, memory_percent, "
             "gpu_percent, last_heartbeat) VALUES ('" + id + "', " + ws + ", '" + status + "', " + capacity + ", " +
             cpu + ", " + mem + ", " + gpu + ", " + heartbeat + ")");
  }
  void InsertFleet() {
    const std::string ws1 = std::string("'") + kWs1 + "'";
    Worker("w1", ws1, "busy", "4", "50", "40", "NULL", At("-10 seconds"));
    Worker("w2", ws1, "idle", "2", "10", "NULL", "30", At("-59 seconds"));
    Worker("w3", ws1, "busy", "8", "90", "90", "90", At("-61 seconds"));  // stale: offline
    Worker("w4", ws1, "offline", "1", "5", "5", "5", At("-1 second"));   // says offline
    Worker("w5", ws1, "draining", "1", "5", "5", "5", At("-5 seconds"));  // unknown status
    Worker("w6", ws1, "busy", "1", "5", "5", "5", "NULL");                // never beat: offline
    Worker("w7", ws1, "idle", "3", "150", "'NaN'", "NULL", At("-1 second"));  // invalid values
    Worker("w8", ws1, "idle", "1", "NULL", "NULL", "NULL", At("-60 seconds"));  // exactly at the limit: live
    Worker("s1", "NULL", "BUSY", "5", "20", "NULL", "NULL", At("5 seconds"));  // shared pool, heartbeat ahead
  }
  testing::TestDb db_;
  FakeClock clock_{kNoon};
};

TEST_F(WorkersCollectorTest, EmptyTableExposesNoPools) {
  auto snap = Collect();
  EXPECT_EQ(SeriesCount(snap, "agent_workers"), 0u);
  EXPECT_EQ(SeriesCount(snap, "agent_worker_slots"), 0u);
  EXPECT_EQ(SeriesCount(snap, "agent_worker_cpu_usage_ratio_avg"), 0u);
  EXPECT_EQ(Value(snap, "agent_exporter_workers_ignored", {{"reason", "unknown_status"}}), 0);
  EXPECT_EQ(Value(snap, "agent_exporter_workers_ignored", {{"reason", "invalid_percent"}}), 0);
}

TEST_F(WorkersCollectorTest, MissingTableMakesTheCollectorUnavailable) {
  db_.Exec("DROP TABLE workers");
  EXPECT_THROW(Collect(), CollectorUnavailable);
}

TEST_F(WorkersCollectorTest, StatesSlotsAndUsageAreExact) {
  InsertFleet();
  auto snap = Collect();
  // Hand-computed: busy w1; idle w2, w7, w8; offline w3 (stale), w4, w6 (no heartbeat).
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", kWs1}, {"state", "busy"}}), 1);
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", kWs1}, {"state", "idle"}}), 3);
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", kWs1}, {"state", "offline"}}), 3);
  EXPECT_EQ(Value(snap, "agent_worker_slots", {{"workspace_id", kWs1}}), 4 + 2 + 3 + 1);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_cpu_usage_ratio_avg", {{"workspace_id", kWs1}}), (0.5 + 0.1) / 2);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_cpu_usage_ratio_max", {{"workspace_id", kWs1}}), 0.5);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_memory_usage_ratio_avg", {{"workspace_id", kWs1}}), 0.4);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_memory_usage_ratio_max", {{"workspace_id", kWs1}}), 0.4);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_gpu_usage_ratio_avg", {{"workspace_id", kWs1}}), 0.3);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_gpu_usage_ratio_max", {{"workspace_id", kWs1}}), 0.3);
  // Shared pool: workspace_id="", status compared case-insensitively.
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", ""}, {"state", "busy"}}), 1);
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", ""}, {"state", "idle"}}), 0);
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", ""}, {"state", "offline"}}), 0);
  EXPECT_EQ(Value(snap, "agent_worker_slots", {{"workspace_id", ""}}), 5);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_cpu_usage_ratio_avg", {{"workspace_id", ""}}), 0.2);
  // No live shared worker reports memory or GPU: absent, not zero.
  EXPECT_FALSE(Find(snap, "agent_worker_memory_usage_ratio_avg", {{"workspace_id", ""}}));
  EXPECT_FALSE(Find(snap, "agent_worker_gpu_usage_ratio_max", {{"workspace_id", ""}}));
  EXPECT_FALSE(Find(snap, "agent_workers", {{"workspace_id", kWs2}, {"state", "busy"}}));  // no workers
  EXPECT_EQ(Value(snap, "agent_exporter_workers_ignored", {{"reason", "unknown_status"}}), 1);   // w5
  EXPECT_EQ(Value(snap, "agent_exporter_workers_ignored", {{"reason", "invalid_percent"}}), 2);  // w7 cpu, mem
  EXPECT_EQ(SeriesCount(snap, "agent_worker_state"), 0u);  // per-worker series are opt-in
}

TEST_F(WorkersCollectorTest, StaleAfterIsConfigurable) {
  InsertFleet();
  WorkersCollectorOptions opts;
  opts.stale_after = minutes(5);
  auto snap = Collect(opts);
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", kWs1}, {"state", "busy"}}), 2);  // w3 is live again
  EXPECT_EQ(Value(snap, "agent_worker_slots", {{"workspace_id", kWs1}}), 4 + 2 + 3 + 1 + 8);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_cpu_usage_ratio_max", {{"workspace_id", kWs1}}), 0.9);
  // Everything goes stale when time moves on.
  clock_.Advance(minutes(10));
  snap = Collect();
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", kWs1}, {"state", "offline"}}), 8);
  EXPECT_EQ(Value(snap, "agent_workers", {{"workspace_id", ""}, {"state", "offline"}}), 1);
  EXPECT_EQ(Value(snap, "agent_worker_slots", {{"workspace_id", kWs1}}), 0);
  EXPECT_FALSE(Find(snap, "agent_worker_cpu_usage_ratio_avg", {{"workspace_id", kWs1}}));
  EXPECT_EQ(Value(snap, "agent_exporter_workers_ignored", {{"reason", "unknown_status"}}), 0);
}

TEST_F(WorkersCollectorTest, PerWorkerSeriesBehindTheFlag) {
  InsertFleet();
  WorkersCollectorOptions opts;
  opts.per_worker = true;
  auto snap = Collect(opts);
  EXPECT_EQ(SeriesCount(snap, "agent_worker_state"), 9u * 3);
  EXPECT_EQ(Value(snap, "agent_worker_state", {{"workspace_id", kWs1}, {"worker_id", "w3"}, {"state", "offline"}}), 1);
  EXPECT_EQ(Value(snap, "agent_worker_state", {{"workspace_id", kWs1}, {"worker_id", "w3"}, {"state", "busy"}}), 0);
  for (const char* s : {"busy", "idle", "offline"}) {  // unknown status: no state is 1
    EXPECT_EQ(Value(snap, "agent_worker_state", {{"workspace_id", kWs1}, {"worker_id", "w5"}, {"state", s}}), 0);
  }
  EXPECT_EQ(Value(snap, "agent_worker_capacity_slots", {{"workspace_id", ""}, {"worker_id", "s1"}}), 5);
  EXPECT_DOUBLE_EQ(Value(snap, "agent_worker_cpu_usage_ratio", {{"workspace_id", kWs1}, {"worker_id", "w1"}}), 0.5);
  EXPECT_FALSE(Find(snap, "agent_worker_cpu_usage_ratio", {{"workspace_id", kWs1}, {"worker_id", "w3"}}));  // offline
  EXPECT_FALSE(Find(snap, "agent_worker_memory_usage_ratio", {{"workspace_id", kWs1}, {"worker_id", "w7"}}));  // NaN
  EXPECT_EQ(Value(snap, "agent_worker_last_heartbeat_timestamp_seconds", {{"workspace_id", kWs1}, {"worker_id", "w1"}}),
            1773144000 - 10);
  EXPECT_FALSE(Find(snap, "agent_worker_last_heartbeat_timestamp_seconds", {{"workspace_id", kWs1}, {"worker_id", "w6"}}));
}

}  // namespace
}  // namespace aee
