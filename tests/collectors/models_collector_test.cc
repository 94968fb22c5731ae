// Integration tests of the models collector against a real PostgreSQL.
#include "collectors/models_collector.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "core/db.h"
#include "core/log.h"
#include "core/metrics.h"
#include "exporter/config.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::At;
using testing::Ctx;
using testing::kAgent1;
using testing::kDay;
using testing::kNextDay;
using testing::kNoon;
using testing::kWs1;
using testing::kWs2;
using testing::SeriesCount;
using testing::Text;
using testing::Value;

// n calls with created_at uniform in [lo, hi), spread over the 2 workspaces and
// `models` models (model-0 ... ), with realistic NULLs: 5 % NULL completion tokens
// (embeddings), 5 % NULL cost, 3 % NULL latency. Deterministic for a seed.
void InsertCalls(testing::TestDb& db, int n, const std::string& lo, const std::string& hi, double seed, int models,
                 const std::string& prefix = "model-") {
  db.Exec("SELECT setseed(" + std::to_string(seed) + ");" +
          "INSERT INTO model_calls (run_id, workspace_id, agent_id, model, prompt_tokens, completion_tokens, "
          "latency_seconds, cost_usd, created_at) "
          "SELECT gen_random_uuid(), CASE WHEN random() < 0.6 THEN '" + kWs1 + "'::uuid ELSE '" + kWs2 +
          "'::uuid END, '" + kAgent1 + "', '" + prefix + "' || floor(random() * " + std::to_string(models) +
          ")::int, (random() * 4000)::int, CASE WHEN random() < 0.95 THEN (random() * 1000)::int END, "
          "CASE WHEN random() < 0.97 THEN exp(ln(2) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) END, "
          "CASE WHEN random() < 0.95 THEN round((random() * 0.05)::numeric, 7) END, "
          "(" + lo + ")::timestamptz + ((" + hi + ")::timestamptz - (" + lo + ")::timestamptz) * random() "
          "FROM generate_series(1, " + std::to_string(n) + ")");
}

// The model labels of the latency histograms (every workspace's).
std::set<std::string> ModelLabels(const Snapshot& snap) {
  std::set<std::string> out;
  for (const auto& f : snap) {
    if (f.name != "agent_model_call_duration_seconds") continue;
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == "model") out.insert(l.value);
      }
    }
  }
  return out;
}

// The models collector's families against SQL over the calls created in [lo, hi):
// the named models are the first max_models by first valid call, the rest "other".
void ExpectModelsMatchSql(testing::TestDb& db, const Snapshot& snap, const std::string& lo, const std::string& hi,
                          int max_models) {
  const std::string labelled =
      "WITH valid AS (SELECT * FROM model_calls WHERE created_at >= (" + lo + ")::timestamptz AND created_at < (" + hi +
      ")::timestamptz AND workspace_id IS NOT NULL AND coalesce(model, '') <> '' "
      "AND coalesce(prompt_tokens, 0) >= 0 AND coalesce(completion_tokens, 0) >= 0 AND coalesce(cost_usd, 0) >= 0 "
      "AND coalesce(cost_usd, 0) <= 1000000), "
      "named AS (SELECT model FROM valid GROUP BY model ORDER BY min(created_at), model LIMIT " +
      std::to_string(max_models) + "), "
      "l AS (SELECT valid.*, CASE WHEN model IN (SELECT model FROM named) THEN model ELSE 'other' END AS label FROM valid) ";
  size_t groups = 0;
  for (const auto& row : db.Query(labelled +
                                  "SELECT workspace_id::text, label, count(*), coalesce(sum(prompt_tokens), 0), "
                                  "coalesce(sum(completion_tokens), 0), coalesce(sum(cost_usd), 0)::float8 "
                                  "FROM l GROUP BY 1, 2")) {
    const testing::Labels labels = {{"workspace_id", row[0].c_str()}, {"model", row[1].c_str()}};
    EXPECT_EQ(Value(snap, "agent_model_calls_total", labels), row[2].as<double>()) << row[1].c_str();
    testing::Labels prompt = labels, completion = labels;
    prompt["type"] = "prompt";
    completion["type"] = "completion";
    EXPECT_EQ(Value(snap, "agent_model_tokens_total", prompt), row[3].as<double>());
    EXPECT_EQ(Value(snap, "agent_model_tokens_total", completion), row[4].as<double>());
    EXPECT_NEAR(Value(snap, "agent_model_cost_dollars_total", labels), row[5].as<double>(), 1e-9);
    ++groups;
  }
  EXPECT_EQ(SeriesCount(snap, "agent_model_calls_total"), groups);
  std::string bounds;
  for (double b : LatencyBuckets()) bounds += (bounds.empty() ? "" : ",") + std::to_string(b);
  size_t buckets = 0;
  for (const auto& row : db.Query(labelled +
                                  "SELECT label, b, count(*) FILTER (WHERE latency_seconds <= b), "
                                  "count(*) FILTER (WHERE latency_seconds IS NOT NULL), "
                                  "coalesce(sum(round(latency_seconds * 1000000)), 0)::float8 / 1000000, "
                                  "workspace_id::text "
                                  "FROM l, unnest(ARRAY[" + bounds + "]::float8[]) b GROUP BY 1, 2, 6")) {
    auto m = testing::Find(snap, "agent_model_call_duration_seconds",
                           {{"workspace_id", row[5].c_str()}, {"model", row[0].c_str()}});
    ASSERT_TRUE(m) << row[5].c_str() << " " << row[0].c_str();
    EXPECT_EQ(m->histogram.sample_count, row[3].as<std::uint64_t>());
    EXPECT_DOUBLE_EQ(m->histogram.sample_sum, row[4].as<double>());
    bool found = false;
    for (const auto& bucket : m->histogram.bucket) {
      if (std::abs(bucket.upper_bound - row[1].as<double>()) < 1e-9) {
        EXPECT_EQ(bucket.cumulative_count, row[2].as<std::uint64_t>()) << row[0].c_str() << " le=" << row[1].c_str();
        found = true;
      }
    }
    EXPECT_TRUE(found);
    ++buckets;
  }
  EXPECT_EQ(buckets, SeriesCount(snap, "agent_model_call_duration_seconds") * LatencyBuckets().size());
  // One latency histogram per (workspace, model) the calls counters have.
  EXPECT_EQ(SeriesCount(snap, "agent_model_call_duration_seconds"), SeriesCount(snap, "agent_model_calls_total"));
}

// The platform stamps created_at when the call was made, minutes before its row
// commits: a call stamped 2 minutes before the clock's now, in a transaction left
// open on `late`.
void InsertLateStampedCall(pqxx::work& late, const Clock& clock) {
  const std::int64_t stamped_us = ToUnixMicros(clock.Now()) - 120'000'000;
  late.exec(std::string("INSERT INTO model_calls (workspace_id, model, prompt_tokens, completion_tokens, latency_seconds, "
                        "cost_usd, created_at) VALUES ('") + testing::kWs1 + "', 'model-0', 1000, 200, 3.5, 0.0123, '" +
            FormatTimestampUs(stamped_us) + "')");
}

class ModelsCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::InsertWorkspacesAndAgents(db_); }
  ModelsCollector Make(ModelsCollectorOptions opts = {}) { return ModelsCollector(Ctx(clock_), opts); }
  DbSession Session() { return DbSession(db_.url(), "test"); }
  // Leaves a late-stamped call (InsertLateStampedCall) uncommitted while `cycles`
  // cycles 10 s apart each insert 20 calls and run collect, then commits it.
  void CommitLateStampedCallAfter(int cycles, const std::function<void()>& collect) {
    pqxx::connection writer(db_.url());
    pqxx::work late(writer);
    InsertLateStampedCall(late, clock_);
    for (int i = 0; i < cycles; ++i) {
      InsertCalls(db_, 20, At(std::to_string(i * 10) + " seconds"), At(std::to_string(i * 10 + 10) + " seconds"),
                  0.71 + i / 100.0, 3);
      clock_.Advance(seconds(10));
      collect();
    }
    late.commit();
  }
  testing::TestDb db_;
  FakeClock clock_{kNoon};
};

TEST_F(ModelsCollectorTest, EmptyTableExposesNoModels) {
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  EXPECT_EQ(SeriesCount(snap, "agent_model_calls_total"), 0u);
  EXPECT_EQ(SeriesCount(snap, "agent_model_call_duration_seconds"), 0u);
  EXPECT_EQ(Value(snap, "agent_model_calls_counting_since_timestamp_seconds", {}), 1773100800);
  EXPECT_EQ(Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "startup"}}), 0);
}

TEST_F(ModelsCollectorTest, MissingTableMakesTheCollectorUnavailable) {
  db_.Exec("DROP TABLE model_calls");
  auto c = Make();
  auto s = Session();
  EXPECT_THROW(c.Collect(s), CollectorUnavailable);
  // The table appears later: the collector starts counting.
  db_.Exec(testing::ReadSourceFile("schema/platform.sql"));
  InsertCalls(db_, 10, kDay, At("0 seconds"), 0.05, 2);
  auto snap = c.Collect(s);
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
}

TEST_F(ModelsCollectorTest, StartupAggregateMatchesSql) {
  InsertCalls(db_, 3000, kDay, At("-1 minute"), 0.11, 8);
  InsertCalls(db_, 300, "'2026-03-09 00:00:00+00'", kDay, 0.12, 8);  // yesterday: not counted
  auto c = Make();
  auto s = Session();
  auto snap = c.Collect(s);
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  EXPECT_EQ(ModelLabels(snap).size(), 8u);
  EXPECT_EQ(Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "startup"}}), 3000);
}

TEST_F(ModelsCollectorTest, IncrementalReadsMatchSql) {
  auto c = Make({.read_batch_rows = 100});  // 300 rows a cycle: exactly 3 batches and an empty fetch
  auto s = Session();
  c.Collect(s);
  for (int i = 0; i < 5; ++i) {
    InsertCalls(db_, 300, At(std::to_string(i * 10) + " seconds"), At(std::to_string(i * 10 + 10) + " seconds"),
                0.2 + i / 100.0, 6);
    clock_.Advance(seconds(10));
    c.Collect(s);
  }
  InsertCalls(db_, 40, kNextDay, At("13 hours"), 0.3, 6);  // tomorrow (clock skew): not today
  clock_.Advance(seconds(5));
  auto snap = c.Collect(s);
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  EXPECT_GT(Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "incremental"}}), 0);
}

TEST_F(ModelsCollectorTest, RestartAndTwoReplicasExposeIdenticalValues) {
  InsertCalls(db_, 800, kDay, At("0 seconds"), 0.4, 7);
  auto a = Make();
  auto sa = Session();
  a.Collect(sa);
  std::optional<ModelsCollector> b;
  auto sb = Session();
  Snapshot snap_a, snap_b;
  for (int i = 0; i < 4; ++i) {
    InsertCalls(db_, 200, At(std::to_string(i * 5) + " seconds"), At(std::to_string(i * 5 + 5) + " seconds"),
                0.41 + i / 100.0, 7);
    clock_.Advance(seconds(5));
    snap_a = a.Collect(sa);
    if (i == 1) b.emplace(Make());  // a replica (or a restart) that starts later
    if (b) snap_b = b->Collect(sb);
  }
  EXPECT_EQ(Text(snap_a, "agent_model"), Text(snap_b, "agent_model"));
  ExpectModelsMatchSql(db_, snap_a, kDay, kNextDay, 50);
  // Calls made while an exporter is down are counted after its restart.
  InsertCalls(db_, 150, At("21 seconds"), At("59 seconds"), 0.49, 7);
  clock_.Advance(minutes(1));
  auto restarted = Make();
  auto sr = Session();
  auto snap_r = restarted.Collect(sr);
  ExpectModelsMatchSql(db_, snap_r, kDay, kNextDay, 50);
  EXPECT_EQ(Text(snap_r, "agent_model"), Text(a.Collect(sa), "agent_model"));
}

TEST_F(ModelsCollectorTest, UnknownModelFloodIsFoldedIntoOther) {
  ModelsCollectorOptions opts;
  opts.max_models = 5;
  InsertCalls(db_, 400, kDay, At("-1 hour"), 0.5, 3, "known-");  // 3 models first
  auto a = Make(opts);
  auto sa = Session();
  a.Collect(sa);
  // A flood of 300 distinct model names arrives.
  for (int i = 0; i < 3; ++i) {
    InsertCalls(db_, 1000, At(std::to_string(i * 10) + " seconds"), At(std::to_string(i * 10 + 10) + " seconds"),
                0.51 + i / 100.0, 300, "flood-");
    clock_.Advance(seconds(10));
    a.Collect(sa);
  }
  clock_.Advance(seconds(10));
  auto snap = a.Collect(sa);
  // 5 named models (3 known + the first 2 flood models by first call) plus "other".
  EXPECT_EQ(ModelLabels(snap).size(), 6u);
  EXPECT_TRUE(ModelLabels(snap).count("other"));
  EXPECT_LE(SeriesCount(snap, "agent_model_calls_total"), 2u * 6);
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 5);
  // A replica starting now admits the same models from the start-up aggregate.
  auto b = Make(opts);
  auto sb = Session();
  EXPECT_EQ(Text(b.Collect(sb), "agent_model"), Text(snap, "agent_model"));
}

double TotalCalls(const Snapshot& snap) {
  double total = 0;
  for (const auto& f : snap) {
    if (f.name == "agent_model_calls_total") for (const auto& m : f.metric) total += m.counter.value;
  }
  return total;
}

// Read by created_at, a call stamped before the frontier is counted by the sweep.
TEST_F(ModelsCollectorTest, LateApplicationStampedCommitIsCountedOnceByTheSweep) {
  ModelsCollectorOptions opts;
  opts.read_by_id = false;
  opts.sweep_interval = seconds(30);
  opts.read_batch_rows = 7;  // the start-up ledger and every read in many batches
  auto c = Make(opts);
  auto s = Session();
  InsertCalls(db_, 100, kDay, At("0 seconds"), 0.7, 3);
  c.Collect(s);
  CommitLateStampedCallAfter(6, [&] { c.Collect(s); });
  for (int i = 0; i < 8; ++i) {
    clock_.Advance(seconds(10));
    c.Collect(s);
  }
  auto snap = c.Collect(s);
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  EXPECT_GT(Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "sweep"}}), 0);
}

// Read by id (the default), the same call is counted by the first cycle after it
// commits, with sweeps off; read by created_at without sweeps it never is.
TEST_F(ModelsCollectorTest, LateApplicationStampedCommitIsCountedAtTheNextCycleById) {
  ModelsCollectorOptions by_id;
  by_id.sweep_interval = milliseconds(0);  // nothing but the reads by id can count it
  by_id.read_batch_rows = 7;
  ModelsCollectorOptions by_created_at = by_id;
  by_created_at.read_by_id = false;
  auto c = Make(by_id);
  auto t = Make(by_created_at);
  auto s = Session();
  auto st = Session();
  InsertCalls(db_, 100, kDay, At("0 seconds"), 0.7, 3);
  c.Collect(s);
  t.Collect(st);
  CommitLateStampedCallAfter(6, [&] {
    c.Collect(s);
    t.Collect(st);
  });
  clock_.Advance(seconds(10));
  auto snap = c.Collect(s);
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  EXPECT_EQ(TotalCalls(t.Collect(st)) + 1, TotalCalls(snap)) << "by created_at, without sweeps, the call is missed";
  for (int i = 0; i < 3; ++i) {
    InsertCalls(db_, 20, At(std::to_string(70 + i * 10) + " seconds"), At(std::to_string(80 + i * 10) + " seconds"),
                0.78 + i / 100.0, 3);
    clock_.Advance(seconds(10));
    snap = c.Collect(s);
  }
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  EXPECT_EQ(Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "sweep"}}), 0);
  // Each cycle read the calls inserted since the previous one, and the late one's
  // id as a gap until it committed: not again every call since the open
  // transaction began (20 + 40 + ... + 120 while it was open).
  EXPECT_LE(Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "incremental"}}),
            6 * 20 + 1 + 3 * 20);
}

// A transaction open since before the start-up may hold any id: reads are by
// created_at until it ended, then one sweep reads the lateness window, then by id.
TEST_F(ModelsCollectorTest, TransactionsOpenAtTheStartAreCountedByOneSweepThenReadsAreById) {
  ModelsCollectorOptions opts;
  opts.read_batch_rows = 7;
  auto c = Make(opts);
  auto s = Session();
  InsertCalls(db_, 100, kDay, At("0 seconds"), 0.7, 3);
  pqxx::connection writer(db_.url());
  pqxx::work late(writer);
  InsertLateStampedCall(late, clock_);
  c.Collect(s);
  InsertCalls(db_, 20, At("0 seconds"), At("10 seconds"), 0.71, 3);
  clock_.Advance(seconds(10));
  c.Collect(s);
  late.commit();
  Snapshot snap;
  for (int i = 1; i < 4; ++i) {
    InsertCalls(db_, 20, At(std::to_string(i * 10) + " seconds"), At(std::to_string(i * 10 + 10) + " seconds"),
                0.71 + i / 100.0, 3);
    clock_.Advance(seconds(10));
    snap = c.Collect(s);
  }
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  const double swept = Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "sweep"}});
  EXPECT_GT(swept, 0);
  for (int i = 4; i < 40; ++i) {  // 6 minutes: past the 5-minute sweep interval
    InsertCalls(db_, 5, At(std::to_string(i * 10) + " seconds"), At(std::to_string(i * 10 + 10) + " seconds"),
                0.71 + i / 1000.0, 3);
    clock_.Advance(seconds(10));
    snap = c.Collect(s);
  }
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  EXPECT_EQ(Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "sweep"}}), swept)
      << "no sweep once reading by id";
}

// The sequence's grant revoked while reading by id: one cycle fails with the error,
// the next ones read by created_at, exactly, and say so.
TEST_F(ModelsCollectorTest, ASequenceThatCanNoLongerBeReadFailsOneCycleThenReadsByCreatedAt) {
  const std::string role = "exporter_" + db_.name();
  db_.Exec("CREATE ROLE " + role + " LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + role +
           "; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO " + role + "; GRANT pg_read_all_stats TO " + role);
  Logger logger(LogLevel::kInfo, LogFormat::kLogfmt);
  std::string log;
  logger.SetSinkForTest(&log);
  CollectorContext ctx = Ctx(clock_);
  ctx.logger = &logger;
  ModelsCollector c(ctx, ModelsCollectorOptions{});
  {
    DbSession s(db_.UrlAs(role), "test");
    InsertCalls(db_, 50, kDay, At("0 seconds"), 0.92, 3);
    c.Collect(s);
    EXPECT_NE(log.find("reading new rows by id"), std::string::npos) << log;
    db_.Exec("REVOKE SELECT ON ALL SEQUENCES IN SCHEMA public FROM " + role);
    InsertCalls(db_, 20, At("0 seconds"), At("10 seconds"), 0.93, 3);
    clock_.Advance(seconds(10));
    EXPECT_THROW(c.Collect(s), std::exception);
    s.Reset();  // as the scheduler does after a failed cycle
    EXPECT_NE(log.find("can no longer be read"), std::string::npos) << log;
    Snapshot snap;
    for (int i = 1; i < 4; ++i) {
      InsertCalls(db_, 20, At(std::to_string(i * 10) + " seconds"), At(std::to_string(i * 10 + 10) + " seconds"),
                  0.93 + i / 100.0, 3);
      clock_.Advance(seconds(10));
      snap = c.Collect(s);
    }
    ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  }
  db_.Exec("DROP OWNED BY " + role + "; DROP ROLE " + role);
}

// A schema without NOT NULL on created_at: a call without one belongs to no day.
// Read by id, it is read (its id is in the range) and counted nowhere, and the
// cycles go on.
TEST_F(ModelsCollectorTest, ACallWithoutCreatedAtIsReadByIdAndCountedNowhere) {
  db_.Exec("ALTER TABLE model_calls ALTER COLUMN created_at DROP NOT NULL");
  auto c = Make();
  auto s = Session();
  InsertCalls(db_, 50, kDay, At("0 seconds"), 0.9, 3);
  c.Collect(s);
  db_.Exec(std::string("INSERT INTO model_calls (workspace_id, model, created_at) VALUES ('") + testing::kWs1 +
           "', 'model-0', NULL)");
  InsertCalls(db_, 20, At("0 seconds"), At("10 seconds"), 0.91, 3);
  clock_.Advance(seconds(10));
  auto snap = c.Collect(s);
  ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
  EXPECT_EQ(TotalCalls(snap), 70);
}

// A sequence that caches values or steps by more than 1, or one the role may not
// read, cannot bound the ids: the collector says why once and reads by created_at
// with sweeps, exactly.
TEST_F(ModelsCollectorTest, ReadsByCreatedAtWhenTheSequenceCannotBoundTheIds) {
  const std::string role = "exporter_" + db_.name();
  db_.Exec("CREATE ROLE " + role + " LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + role +
           "; GRANT pg_read_all_stats TO " + role);
  const std::string role_url = db_.UrlAs(role);
  struct Case {
    std::string setup, url, why;
  };
  for (const Case& k : {Case{"ALTER SEQUENCE model_calls_id_seq CACHE 10", db_.url(), "caches 10 values a session"},
                        Case{"ALTER SEQUENCE model_calls_id_seq CACHE 1 INCREMENT BY 50", db_.url(), "steps by 50"},
                        Case{"ALTER SEQUENCE model_calls_id_seq INCREMENT BY 1", role_url, "GRANT SELECT ON SEQUENCE"}}) {
    SCOPED_TRACE(k.why);
    db_.Exec(k.setup);
    Logger logger(LogLevel::kInfo, LogFormat::kLogfmt);
    std::string log;
    logger.SetSinkForTest(&log);
    CollectorContext ctx = Ctx(clock_);
    ctx.logger = &logger;
    ModelsCollectorOptions opts;
    opts.sweep_interval = seconds(30);
    ModelsCollector c(ctx, opts);
    DbSession s(k.url, "test");
    InsertCalls(db_, 50, kDay, At("0 seconds"), 0.6, 3);
    c.Collect(s);
    CommitLateStampedCallAfter(3, [&] { c.Collect(s); });
    Snapshot snap;
    for (int i = 0; i < 5; ++i) {
      clock_.Advance(seconds(10));
      snap = c.Collect(s);
    }
    ExpectModelsMatchSql(db_, snap, kDay, kNextDay, 50);
    EXPECT_GT(Value(snap, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "sweep"}}), 0);
    EXPECT_NE(log.find(k.why), std::string::npos) << log;
    EXPECT_EQ(log.find("reading new rows by id"), std::string::npos) << log;
    s.Reset();
  }
  db_.Exec("DROP OWNED BY " + role + "; DROP ROLE " + role);
}

TEST_F(ModelsCollectorTest, MidnightResetsToZeroAndCountsTheNewDay) {
  clock_.Set(Clock::time_point(seconds(1773187140)));  // 2026-03-10 23:59:00
  InsertCalls(db_, 200, kDay, "'2026-03-10 23:58:00+00'", 0.8, 4);
  auto c = Make();
  auto s = Session();
  c.Collect(s);
  InsertCalls(db_, 30, "'2026-03-10 23:59:00+00'", "'2026-03-10 23:59:30+00'", 0.81, 4);
  InsertCalls(db_, 40, kNextDay, "'2026-03-11 00:00:50+00'", 0.82, 2, "tomorrow-");
  clock_.Set(Clock::time_point(seconds(1773187190)));  // 23:59:50
  ExpectModelsMatchSql(db_, c.Collect(s), kDay, kNextDay, 50);
  clock_.Set(Clock::time_point(seconds(1773187260)));  // 2026-03-11 00:01:00
  auto after = c.Collect(s);
  EXPECT_EQ(Value(after, "agent_model_calls_counting_since_timestamp_seconds", {}), 1773187200);
  ExpectModelsMatchSql(db_, after, kNextDay, "'2026-03-12 00:00:00+00'", 50);
  double total = 0;
  for (const auto& f : after) {
    if (f.name == "agent_model_calls_total") for (const auto& m : f.metric) total += m.counter.value;
  }
  EXPECT_EQ(total, 40);
  EXPECT_FALSE(ModelLabels(after).count("model-0"));  // yesterday's
}

TEST_F(ModelsCollectorTest, OddRowsAreSkippedWithReasonsAndNullsCountAsZero) {
  const std::string cols =
      "INSERT INTO model_calls (workspace_id, model, prompt_tokens, completion_tokens, latency_seconds, cost_usd, "
      "created_at) VALUES ";
  const std::string ws = std::string("'") + kWs1 + "'";
  const std::string t = At("-10 seconds");
  const std::string rows = cols +
      "(" + ws + ", 'm', 100, 10, 1.5, 0.25, " + t + "),"             // valid
      "(" + ws + ", 'm', NULL, NULL, 2.5, NULL, " + t + "),"          // NULL tokens and cost: 0
      "(" + ws + ", 'm', 5, 5, NULL, 0.5, " + t + "),"                // NULL latency: counted, not observed
      "(" + ws + ", 'm', 5, 5, 'NaN', 0, " + t + "),"                 // NaN latency
      "(" + ws + ", 'm', 5, 5, -1, 0, " + t + "),"                    // negative latency
      "(NULL, 'm', 5, 5, 1, 0, " + t + "),"                           // no workspace: row skipped
      "(" + ws + ", '', 5, 5, 1, 0, " + t + "),"                      // no model: row skipped
      "(" + ws + ", 'm', -5, 5, 1, 0, " + t + "),"                    // negative tokens: row skipped
      "(" + ws + ", 'm', 5, 5, 1, 'NaN', " + t + ")";                 // NaN cost: row skipped
  auto check = [&](const Snapshot& snap) {
    const testing::Labels l = {{"workspace_id", kWs1}, {"model", "m"}};
    EXPECT_EQ(Value(snap, "agent_model_calls_total", l), 5);
    EXPECT_EQ(Value(snap, "agent_model_tokens_total", {{"workspace_id", kWs1}, {"model", "m"}, {"type", "prompt"}}), 115);
    EXPECT_EQ(Value(snap, "agent_model_tokens_total", {{"workspace_id", kWs1}, {"model", "m"}, {"type", "completion"}}), 25);
    EXPECT_DOUBLE_EQ(Value(snap, "agent_model_cost_dollars_total", l), 0.75);
    auto h = testing::Find(snap, "agent_model_call_duration_seconds", l);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->histogram.sample_count, 2u);
    EXPECT_DOUBLE_EQ(h->histogram.sample_sum, 4.0);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "models"}, {"reason", "missing_value"}}), 1);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "models"}, {"reason", "invalid_value"}}), 2);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "models"}, {"reason", "negative_duration"}}), 1);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "models"}, {"reason", "missing_workspace"}}), 1);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "models"}, {"reason", "missing_model"}}), 1);
    EXPECT_EQ(Value(snap, "agent_exporter_rows_skipped_total", {{"collector", "models"}, {"reason", "negative_value"}}), 1);
  };
  // The incremental reads classify identically.
  testing::CheckStartupAndIncremental(
      db_, clock_, kNoon, "model_calls", rows,
      [this] { return std::make_unique<ModelsCollector>(Ctx(clock_), ModelsCollectorOptions{}); }, check);
}

// created_at DEFAULT now() (the transaction start) committed after newer calls were
// read: the frontier makes the next cycle count it, with the sweep switched off.
TEST(ModelsCollectorLateCommitTest, DatabaseStampedLateCommitIsCountedAtOnceWithoutSweep) {
  testing::TestDb db;
  testing::InsertWorkspacesAndAgents(db);
  SystemClock clock;
  ModelsCollectorOptions opts;
  opts.sweep_interval = milliseconds(0);
  ModelsCollector c(Ctx(clock), opts);
  const std::string insert = std::string("INSERT INTO model_calls (workspace_id, model, prompt_tokens) VALUES ('") + kWs1;
  auto [snap, next] = testing::CommitLateAfterNewerReads(db, c, insert + "', 'late', 7)", insert + "', 'early', 1)");
  EXPECT_EQ(Value(snap, "agent_model_calls_total", {{"workspace_id", kWs1}, {"model", "late"}}), 1);
  EXPECT_EQ(Value(snap, "agent_model_calls_total", {{"workspace_id", kWs1}, {"model", "early"}}), 3);
  EXPECT_EQ(Value(next, "agent_model_calls_total", {{"workspace_id", kWs1}, {"model", "late"}}), 1);
  EXPECT_EQ(Value(next, "agent_model_tokens_total", {{"workspace_id", kWs1}, {"model", "late"}, {"type", "prompt"}}), 7);
  EXPECT_EQ(Value(next, "agent_exporter_rows_read_total", {{"collector", "models"}, {"scan", "sweep"}}), 0);
}

}  // namespace
}  // namespace aee
