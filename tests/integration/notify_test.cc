// The event-driven path: schema/notify.sql's triggers, --db.notify-channel, and the
// collectors woken by it. Collector intervals are an hour here, so only a
// notification can explain a change showing up.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/change_listener.h"
#include "exporter/app.h"
#include "tests/support/fake_clock.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

class NotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InsertWorkspacesAndAgents(db_);
    db_.Exec(testing::ReadSourceFile("schema/notify.sql"));
  }
  std::unique_ptr<Exporter> Start() {
    Config cfg;
    std::string err;
    EXPECT_TRUE(ParseFlags({"--web.listen-address=127.0.0.1:0", "--db.notify-channel=agent_execution_events",
                            "--collector.realtime.interval=1h", "--collector.runs.interval=1h", "--no-collector.info",
                            "--no-collector.workers", "--no-collector.models", "--no-collector.database",
                            "--no-collector.patterns"},
                           [](const char*) -> const char* { return nullptr; }, &cfg, &err))
        << err;
    cfg.db_url = db_.url();
    logger_.SetSinkForTest(&log_);
    auto e = std::make_unique<Exporter>(cfg, clock_, logger_);
    e->scheduler().KeepSnapshots(true);  // the checks read scheduler().Gather()
    EXPECT_TRUE(e->Start(&err)) << err;
    return e;
  }
  // Waits up to 10 s for pred(); returns how long it took, or nullopt.
  template <typename Pred>
  std::optional<milliseconds> Within10s(Pred pred) {
    const auto start = steady_clock::now();
    while (steady_clock::now() - start < std::chrono::seconds(10)) {
      if (pred()) return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start);
      std::this_thread::sleep_for(milliseconds(2));
    }
    return std::nullopt;
  }
  static bool Has(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }
  double QueueDepth(Exporter& e) {
    auto f = testing::Find(e.scheduler().Gather(), "agent_queue_depth", {{"workspace_id", testing::kWs1}});
    return f ? f->gauge.value : 0;
  }
  void Enqueue() {
    db_.Exec(std::string("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, status, queued_at) VALUES "
                         "(gen_random_uuid(), '") +
             testing::kWs1 + "', '" + testing::kAgent1 + "', 'queued', now())");
  }

  testing::TestDb db_;
  SystemClock clock_;
  Logger logger_{LogLevel::kInfo, LogFormat::kLogfmt};
  std::string log_;
};

TEST_F(NotifyTest, ChangesReachMetricsWithoutWaitingForTheInterval) {
  auto e = Start();
  ASSERT_TRUE(Within10s([&] {
    return Has(e->MetricsText(), "agent_exporter_notify_listener_up 1") && e->scheduler().Status()[0].ever_succeeded &&
           e->scheduler().Status()[1].ever_succeeded;
  })) << log_;

  Enqueue();
  auto took = Within10s([&] { return QueueDepth(*e) == 1; });
  ASSERT_TRUE(took) << "a queued row never showed up: " << log_;
  RecordProperty("queue_row_ms", static_cast<int>(took->count()));

  db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, "
                       "finished_at) VALUES (gen_random_uuid(), '") +
           testing::kWs1 + "', '" + testing::kAgent1 + "', 'completed', now() - interval '2 s', " +
           "now() - interval '1 s', now())");
  const testing::Labels completed{
      {"workspace_id", testing::kWs1}, {"agent_id", testing::kAgent1}, {"status", "completed"}};
  took = Within10s([&] {
    auto f = testing::Find(e->scheduler().Gather(), "agent_runs_finished_total", completed);
    return f && f->counter.value == 1;
  });
  ASSERT_TRUE(took) << "a finished run never showed up: " << log_;
  RecordProperty("finished_run_ms", static_cast<int>(took->count()));

  const std::string text = e->MetricsText();
  EXPECT_TRUE(Has(text, "agent_exporter_notifications_total ")) << text;
  EXPECT_FALSE(Has(text, "agent_exporter_collector_woken_cycles_total{collector=\"realtime\"} 0")) << text;
}

TEST_F(NotifyTest, ListenerComesBackAfterItsConnectionIsTerminated) {
  auto e = Start();
  ASSERT_TRUE(Within10s([&] { return Has(e->MetricsText(), "agent_exporter_notify_listener_connects_total 1"); }))
      << log_;
  ASSERT_TRUE(Within10s([&] { return e->scheduler().Status()[0].ever_succeeded; })) << log_;
  db_.Exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
      "AND application_name = 'agent_execution_exporter/listen'");
  ASSERT_TRUE(Within10s([&] { return Has(e->MetricsText(), "agent_exporter_notify_listener_connects_total 2"); }))
      << log_;
  EXPECT_TRUE(Has(log_, "notify listener down")) << log_;
  Enqueue();
  EXPECT_TRUE(Within10s([&] { return QueueDepth(*e) == 1; })) << log_;
}

// The 30 s keepalive query follows the listener's clock: with a fake one it goes
// out once the clock is moved past 30 s of silence (it is checked on each 1 s poll
// slice), long before 30 real seconds.
TEST_F(NotifyTest, TheKeepaliveQueryGoesOutAfterThirtySecondsOfTheListenersClock) {
  FakeSteadyClock steady;
  logger_.SetSinkForTest(&log_);
  std::atomic<bool> connected{false};  // on_change("") comes once the keepalive timer runs
  ChangeListener listener(
      db_.url(), "aee_keepalive_test", [&](std::string_view payload) { connected = connected || payload.empty(); },
      logger_, steady);
  listener.Start();
  auto last_query = [&] {
    auto rows = db_.Query(
        "SELECT query FROM pg_stat_activity WHERE application_name = 'agent_execution_exporter/listen' "
        "AND datname = current_database()");
    return rows.empty() ? std::string() : rows[0][0].as<std::string>();
  };
  ASSERT_TRUE(Within10s([&] { return connected.load(); })) << log_;
  EXPECT_TRUE(Has(last_query(), "LISTEN")) << last_query();
  steady.Advance(std::chrono::seconds(30));
  EXPECT_TRUE(Within10s([&] { return last_query() == "SELECT 1"; })) << last_query();
  listener.Stop();
}

TEST_F(NotifyTest, WithoutTheTriggersPollingStillWorks) {
  db_.Exec(
      "DROP TRIGGER agent_execution_notify ON execution_queue; DROP TRIGGER agent_execution_notify ON agent_runs");
  Config cfg;
  std::string err;
  ASSERT_TRUE(ParseFlags({"--web.listen-address=127.0.0.1:0", "--db.notify-channel=agent_execution_events",
                          "--collector.realtime.interval=200ms"},
                         [](const char*) -> const char* { return nullptr; }, &cfg, &err))
      << err;
  cfg.db_url = db_.url();
  logger_.SetSinkForTest(&log_);
  Exporter e(cfg, clock_, logger_);
  e.scheduler().KeepSnapshots(true);  // the checks read scheduler().Gather()
  ASSERT_TRUE(e.Start(&err)) << err;
  Enqueue();
  EXPECT_TRUE(Within10s([&] { return QueueDepth(e) == 1; })) << log_;
}

}  // namespace
}  // namespace aee
