// The realtime collector's incremental path (a change feed from schema/notify.sql's
// triggers) against its full read, on a real PostgreSQL: after every step of random
// inserts, starts, finishes, cancels, deletes, renames and late commits, an
// incremental collector and one that reads everything must expose the same series
// with bit-identical values and publish the same live view.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <random>
#include <thread>

#include "collectors/change_feed.h"
#include "collectors/realtime_collector.h"
#include "collectors/runs_collector.h"
#include "collectors/scope.h"
#include "core/change_listener.h"
#include "core/db.h"
#include "core/log.h"
#include "tests/support/fixed_time.h"
#include "tests/support/run_data.h"
#include "tests/support/snapshot.h"
#include "tests/support/test_db.h"

namespace aee {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::kNoon;

constexpr const char* kChannel = "agent_execution_events";

std::string Hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

// Every series with its value to the last bit, sorted.
std::string Dump(const Snapshot& snap) {
  std::vector<std::string> lines;
  for (const auto& f : snap) {
    for (const auto& m : f.metric) {
      std::string line = f.name + "{";
      for (const auto& l : m.label) line += l.name + "=" + l.value + ",";
      lines.push_back(line + "} " + Hex(m.gauge.value));
    }
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string Dump(const LiveView& v) {
  std::string out = "sampled " + std::to_string(v.sampled_at_us) + "\n";
  auto opt = [](const auto& o) { return o ? std::to_string(*o) : std::string("-"); };
  for (const auto& [id, ws] : v.workspaces) {
    out += "ws " + id + " " + ws.id + " " + ws.name + " " + std::to_string(ws.running) + " " +
           std::to_string(ws.queue_depth) + " " + Hex(ws.queue_wait_avg_seconds) + "\n";
    for (const auto& r : ws.runs) {
      out += "  run " + r.run_id + " " + r.agent_id + " " + r.agent_name + " " + r.user_id + " " +
             std::to_string(r.started_at_us) + " " + Hex(r.elapsed_seconds) + " " +
             (r.estimated_runtime_seconds ? Hex(*r.estimated_runtime_seconds) : "-") + " " + (r.overdue ? "1" : "0") + "\n";
    }
    for (const auto& q : ws.queued) {
      out += "  queued " + q.queue_id + " " + q.agent_id + " " + q.agent_name + " " + std::to_string(q.priority) + " " +
             opt(q.queued_at_us) + " " + std::to_string(q.position) + " " + Hex(q.wait_seconds) + " " +
             opt(q.estimated_start_us) + "\n";
    }
  }
  return out;
}

class RealtimeIncrementalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::InsertWorkspacesAndAgents(db_);
    db_.Exec(testing::ReadSourceFile("schema/notify.sql"));
    feed_ = std::make_shared<ChangeFeed>(kChannel);
    for (int i = 0; i < kShards; ++i) shard_feeds_.push_back(std::make_shared<ChangeFeed>(kChannel, kShards, i));
    listener_ = std::make_unique<ChangeListener>(
        db_.url(), kChannel,
        [this](std::string_view payload) {
          for (auto* f : AllFeeds()) {
            if (payload.empty()) {
              f->Connected();
            } else if (!f->Notify(payload)) {
              std::lock_guard lock(mu_);
              ++ignored_[f];
            }
          }
          std::lock_guard lock(mu_);
          last_payload_ = std::string(payload);
          payloads_.push_back(last_payload_);
        },
        logger_);
    listener_->SetOnDown([this] {
      for (auto* f : AllFeeds()) f->Disconnected();
    });
    listener_->Start();
    inc_ = Make(feed_);
    full_ = Make(nullptr);
  }
  void TearDown() override { listener_->Stop(); }

  std::vector<ChangeFeed*> AllFeeds() {
    std::vector<ChangeFeed*> out = {feed_.get()};
    for (auto& f : shard_feeds_) out.push_back(f.get());
    return out;
  }

  // A collector (incremental with a feed, else reading everything) publishing its
  // live view into *sink (default: inc_view_ or full_view_).
  std::unique_ptr<RealtimeCollector> Make(std::shared_ptr<ChangeFeed> feed, ShardOptions shard = {},
                                          std::shared_ptr<LiveView>* sink = nullptr) {
    CollectorContext ctx = testing::Ctx(clock_);
    if (sink == nullptr) sink = feed ? &inc_view_ : &full_view_;
    ctx.shard = shard;
    ctx.on_live_view = [sink](std::shared_ptr<const LiveView> v) { *sink = std::make_shared<LiveView>(*v); };
    RealtimeCollectorOptions opts;
    opts.top_runs = 3;
    opts.live_cap = 4;
    opts.overdue_factor = 2;
    opts.user_id = user_mode_;
    opts.resync_interval = std::chrono::hours(1);  // resyncs come from gaps only
    ctx.change_feed = std::move(feed);
    return std::make_unique<RealtimeCollector>(ctx, opts);
  }

  // Waits until the listener delivered everything committed so far: a marker
  // notification arrives after every earlier commit's (delivery is in commit order).
  void Drain() {
    // A queue entry with no workspace that is gone: nothing to read or count.
    const std::string marker = "execution_queue:/" + db_.Scalar("SELECT gen_random_uuid()") + "=-";
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      // Sent again until it arrives: the listener may still be connecting.
      db_.Exec("SELECT pg_notify('" + std::string(kChannel) + "', '" + marker + "')");
      for (int i = 0; i < 200; ++i) {
        {
          std::lock_guard lock(mu_);
          if (last_payload_ == marker) return;
        }
        std::this_thread::sleep_for(milliseconds(1));
      }
    }
    FAIL() << "the listener never delivered " << marker;
  }

  // Both collectors at the same instant must agree to the last bit.
  void ExpectSame(const std::string& step) {
    Drain();
    last_ = inc_->Collect(inc_db_);
    const Snapshot b = full_->Collect(full_db_);
    ASSERT_EQ(Dump(last_), Dump(b)) << "after " << step;
    ASSERT_TRUE(inc_view_ && full_view_);
    ASSERT_EQ(Dump(*inc_view_), Dump(*full_view_)) << "after " << step;
    ++compared_;
  }

  // The fake clock's time plus offset_us, exact to the microsecond.
  std::string At(std::int64_t offset_us) {
    const std::int64_t us =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_.Now().time_since_epoch()).count() + offset_us;
    return "('epoch'::timestamptz + " + std::to_string(us) + " * interval '1 microsecond')";
  }
  double Running(const char* ws) { return testing::Value(last_, "agent_runs_running", {{"workspace_id", ws}}); }

  // One random change to the platform's tables (or none); returns what it did.
  std::string RandomStep(std::mt19937& rng, int step);
  // Collectors that apply the announced states (no user_id shown), and one run
  // started in kWs1 and seen by both.
  void StartOneRunWithoutUserIds(const std::string& run) {
    ShowUserIds(false);
    db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at) VALUES ('" + run + "', '" +
             testing::kWs1 + "', '" + testing::kAgent1 + "', 'running', " + At(-5'000'000) + ")");
    ExpectSame("a running run");
  }
  // A runs collector on feed_, once the realtime collector verified the triggers.
  std::unique_ptr<RunsCollector> RunsOnATrustedFeed(RunsCollectorOptions options = {}) {
    ExpectSame("start-up");
    EXPECT_TRUE(feed_->Trusted());
    CollectorContext ctx = testing::Ctx(clock_);
    ctx.change_feed = feed_;
    return std::make_unique<RunsCollector>(ctx, options);
  }
  // ExpectSame() at start-up and after each of 120 random steps per seed.
  void CompareAfterRandomSteps(std::initializer_list<unsigned> seeds) {
    ExpectSame("start-up");
    for (unsigned seed : seeds) {
      std::mt19937 rng(seed);
      for (int step = 0; step < 120; ++step) {
        const std::string what = RandomStep(rng, step);
        clock_.Advance(std::chrono::microseconds(rng() % 3'000'000));
        ExpectSame("seed " + std::to_string(seed) + " step " + std::to_string(step) + ": " + what);
        if (HasFatalFailure()) return;
      }
    }
  }

  // Runs the incremental collectors made from here on show user_id (which payloads do
  // not carry, so they read each announced run), or not (and apply what is announced).
  void ShowUserIds(bool show) {
    user_mode_ = show ? UserIdMode::kPlain : UserIdMode::kOmit;
    inc_ = Make(feed_);
    full_ = Make(nullptr);
  }

  // The test workspaces' shards at this count: kWs1 is shard 2's, kWs2 shard 0's.
  static constexpr int kShards = 4;

  UserIdMode user_mode_ = UserIdMode::kPlain;
  testing::TestDb db_;
  FakeClock clock_{kNoon};
  Logger logger_{LogLevel::kError, LogFormat::kLogfmt};
  std::shared_ptr<ChangeFeed> feed_;
  std::vector<std::shared_ptr<ChangeFeed>> shard_feeds_;  // shard i of kShards
  std::unique_ptr<ChangeListener> listener_;
  std::mutex mu_;
  std::string last_payload_;
  std::vector<std::string> payloads_;  // every notification, in order
  std::map<ChangeFeed*, int> ignored_;  // notifications a feed found no row of its own in
  std::unique_ptr<RealtimeCollector> inc_, full_;
  std::shared_ptr<LiveView> inc_view_, full_view_;
  DbSession inc_db_{db_.url(), "test/incremental"};
  DbSession full_db_{db_.url(), "test/full"};
  Snapshot last_;
  int compared_ = 0;
};

std::string RealtimeIncrementalTest::RandomStep(std::mt19937& rng, int step) {
  const char* workspaces[] = {testing::kWs1, testing::kWs2};
  const char* agents[] = {testing::kAgent1, testing::kAgent2, testing::kAgent3};
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  auto time_or_special = [&](std::int64_t offset_us) -> std::string {
    switch (pick(20)) {
      case 0: return "NULL";
      case 1: return "'-infinity'";
      case 2: return "'infinity'";
      default: return At(offset_us);
    }
  };
  const std::string ws = workspaces[pick(2)];
  const std::string agent = agents[pick(3)];
  const std::int64_t ago = -static_cast<std::int64_t>(rng() % 600'000'000) + 5'000'000;  // up to 10 min ago, some ahead
  const std::string estimate = pick(4) == 0 ? "NULL" : std::to_string(rng() % 400) + "." + std::to_string(rng() % 1000);
  std::string what;
  switch (pick(11)) {
    case 0:
    case 1:
      what = "enqueue";
      db_.Exec("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, run_id, priority, status, queued_at, "
               "estimated_start_time) VALUES (gen_random_uuid(), '" + ws + "', '" + agent + "', gen_random_uuid(), " +
               std::to_string(pick(3)) + ", 'queued', " + time_or_special(ago) + ", " +
               (pick(2) ? "NULL" : At(1'000'000)) + ")");
      break;
    case 2:
    case 3:
      what = "start";
      db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, started_at, "
               "estimated_runtime) VALUES (gen_random_uuid(), '" + ws + "', '" + agent + "', 'user" +
               std::to_string(pick(5)) + "', 'running', " + At(ago - 1'000'000) + ", " + time_or_special(ago) + ", " +
               estimate + ")");
      break;
    case 4:
      what = "dispatch some";
      db_.Exec("UPDATE execution_queue SET status = 'dispatched' WHERE queue_id IN (SELECT queue_id FROM "
               "execution_queue WHERE status = 'queued' ORDER BY random() LIMIT " + std::to_string(1 + pick(3)) + ")");
      break;
    case 5:
      what = "finish some";
      db_.Exec("UPDATE agent_runs SET status = (ARRAY['completed','failed','cancelled'])[1 + floor(random() * 3)::int], "
               "finished_at = " + At(0) + " WHERE run_id IN (SELECT run_id FROM agent_runs WHERE status = 'running' "
               "ORDER BY random() LIMIT " + std::to_string(1 + pick(3)) + ")");
      break;
    case 6:
      what = "delete";
      db_.Exec(pick(2) ? "DELETE FROM agent_runs WHERE run_id IN (SELECT run_id FROM agent_runs ORDER BY random() LIMIT 1)"
                       : "DELETE FROM execution_queue WHERE queue_id IN (SELECT queue_id FROM execution_queue "
                         "ORDER BY random() LIMIT 1)");
      break;
    case 7:
      what = "move a run and re-prioritise an entry";
      db_.Exec("UPDATE agent_runs SET workspace_id = '" + ws + "', estimated_runtime = " + estimate +
               " WHERE run_id IN (SELECT run_id FROM agent_runs WHERE status = 'running' ORDER BY random() LIMIT 1); "
               "UPDATE execution_queue SET priority = " + std::to_string(pick(5)) +
               " WHERE queue_id IN (SELECT queue_id FROM execution_queue ORDER BY random() LIMIT 1)");
      break;
    case 8:
      what = "rename an agent";
      db_.Exec("UPDATE agents SET name = 'agent " + std::to_string(step) + "' WHERE id = '" + agent + "'");
      break;
    case 9:
      what = "requeue a finished run as running";
      db_.Exec("UPDATE agent_runs SET status = 'running', finished_at = NULL WHERE run_id IN (SELECT run_id FROM "
               "agent_runs WHERE status <> 'running' ORDER BY random() LIMIT 1)");
      break;
    default:
      what = "nothing (time passes)";
      break;
  }
  return what;
}

TEST_F(RealtimeIncrementalTest, RandomChangesGiveTheFullReadsFiguresAfterEveryStep) {
  CompareAfterRandomSteps({1u, 2u, 3u});
  if (HasFatalFailure()) return;
  // The comparisons above ran mostly on the incremental path.
  EXPECT_GT(inc_->incremental_reads(), inc_->full_reads() * 3)
      << inc_->incremental_reads() << " incremental, " << inc_->full_reads() << " full";
  // The live view shows user_id, which no payload carries: the runs were read.
  EXPECT_GT(inc_->announced_rows_read(), 50u);
  RecordProperty("incremental_reads", static_cast<int>(inc_->incremental_reads()));
  RecordProperty("full_reads", static_cast<int>(inc_->full_reads()));
}

// Without user_id in the live view, every announced row is applied from the state
// its entry carries, and nothing is read by id: the figures are still the full
// read's after every step. Agent names are read once per agent (and again after a
// rename's resync).
TEST_F(RealtimeIncrementalTest, RandomChangesAreAppliedFromTheirAnnouncedStates) {
  ShowUserIds(false);
  CompareAfterRandomSteps({5u, 6u});
  if (HasFatalFailure()) return;
  EXPECT_GT(inc_->incremental_reads(), inc_->full_reads() * 3);
  EXPECT_GT(inc_->announced_states_applied(), 100u);
  EXPECT_EQ(inc_->announced_rows_read(), 0u);
  EXPECT_LE(inc_->agent_names_read(), 3 * inc_->full_reads());
  RecordProperty("states_applied", static_cast<int>(inc_->announced_states_applied()));
}

// One transaction takes a running run to completed, back to running with the same
// fields and to completed again: the third notification equals the first, which
// PostgreSQL would fold away ("#<n>" keeps them distinct), leaving "running" as the
// last state seen.
TEST_F(RealtimeIncrementalTest, ARowBackInAnEarlierStateWithinATransactionIsNotFolded) {
  const std::string run = "00000000-0000-0000-0000-0000000000d1";
  StartOneRunWithoutUserIds(run);
  db_.Exec("BEGIN; UPDATE agent_runs SET status = 'completed' WHERE run_id = '" + run +
           "'; UPDATE agent_runs SET status = 'running' WHERE run_id = '" + run +
           "'; UPDATE agent_runs SET status = 'completed' WHERE run_id = '" + run + "'; COMMIT");
  clock_.Advance(seconds(1));
  ExpectSame("completed, running, completed in one transaction");
  EXPECT_EQ(Running(testing::kWs1), 0);
  EXPECT_EQ(inc_->announced_rows_read(), 0u);
}

// A state this version cannot parse (a newer schema/notify.sql, a hand-sent
// notification) is not trusted: that row is read by primary key instead.
TEST_F(RealtimeIncrementalTest, AStateItCannotParseIsReadInstead) {
  const std::string run = "00000000-0000-0000-0000-0000000000d2";
  StartOneRunWithoutUserIds(run);
  for (const char* state : {"x;y;z", "1;2", ";99999999999999999999;", ";1;1.5;extra", ";1;0x10"}) {
    db_.Exec("SELECT pg_notify('" + std::string(kChannel) + "', 'agent_runs:" + testing::kWs1 + "/" + run + "=" +
             state + "')");
    const std::uint64_t read = inc_->announced_rows_read();
    clock_.Advance(seconds(1));
    ExpectSame(std::string("the state ") + state);
    EXPECT_EQ(inc_->announced_rows_read(), read + 1) << state;
    EXPECT_EQ(Running(testing::kWs1), 1) << state;
  }
}

// Sharded: each shard's feed keeps only the announcements of its own workspaces, so
// a shard reads (and is woken by) its rows alone, and its incremental figures still
// equal its full read's after every step. Shard 1 owns neither test workspace.
TEST_F(RealtimeIncrementalTest, AShardReadsOnlyItsOwnAnnouncedRows) {
  ASSERT_EQ(ShardOfWorkspace(testing::kWs1, kShards), 2);
  ASSERT_EQ(ShardOfWorkspace(testing::kWs2, kShards), 0);
  user_mode_ = UserIdMode::kOmit;  // the shards apply the announced states
  struct Pair {
    int index = 0;
    std::unique_ptr<RealtimeCollector> inc, full;
    std::shared_ptr<LiveView> inc_view, full_view;
  };
  std::vector<Pair> shards(3);  // the views' addresses stay put: no push_back after Make
  for (int i = 0; i < 3; ++i) {
    Pair& p = shards[static_cast<size_t>(i)];
    p.index = i;
    p.inc = Make(shard_feeds_[static_cast<size_t>(i)], {kShards, i}, &p.inc_view);
    p.full = Make(nullptr, {kShards, i}, &p.full_view);
  }
  auto expect_same = [&](const std::string& step) {
    Drain();
    for (auto& p : shards) {
      const Snapshot a = p.inc->Collect(inc_db_);
      const Snapshot b = p.full->Collect(full_db_);
      ASSERT_EQ(Dump(a), Dump(b)) << "shard " << p.index << " after " << step;
      ASSERT_TRUE(p.inc_view && p.full_view);
      ASSERT_EQ(Dump(*p.inc_view), Dump(*p.full_view)) << "shard " << p.index << " after " << step;
    }
  };
  expect_same("start-up");
  std::mt19937 rng(4);
  for (int step = 0; step < 120; ++step) {
    const std::string what = RandomStep(rng, step);
    clock_.Advance(std::chrono::microseconds(rng() % 3'000'000));
    expect_same("step " + std::to_string(step) + ": " + what);
    if (HasFatalFailure()) return;
  }
  for (auto& p : shards) {
    EXPECT_GT(p.inc->incremental_reads(), p.inc->full_reads() * 3) << "shard " << p.index;
    EXPECT_EQ(p.inc->announced_rows_read(), 0u) << "shard " << p.index;
  }
  EXPECT_GT(shards[0].inc->announced_states_applied(), 20u);
  EXPECT_GT(shards[2].inc->announced_states_applied(), 20u);
  EXPECT_EQ(shards[1].inc->announced_states_applied(), 0u) << "shard 1 owns neither workspace";
  std::lock_guard lock(mu_);
  // Every shard let pass notifications that named only another shard's rows
  // (shard 1, owning nothing, all of them); the unsharded feed none.
  EXPECT_GT(ignored_[shard_feeds_[0].get()], 10);
  EXPECT_GT(ignored_[shard_feeds_[2].get()], 10);
  EXPECT_GT(ignored_[shard_feeds_[1].get()], ignored_[shard_feeds_[0].get()]);
  EXPECT_EQ(ignored_[feed_.get()], 0);
}

// What schema/notify.sql sends: entries "<workspace>/<id>=<state>" ("/<id>=-"
// without one), the row before an UPDATE that moved it ("=-") ahead of the row
// after, "~" for an update that left the entry as it was, "-<finished_at>" for a
// finished run, split into notifications PostgreSQL accepts (at most 8 000 bytes)
// that together name every row, each ending in its count "#<n>".
TEST_F(RealtimeIncrementalTest, TheTriggersNameEachRowWithItsWorkspaceAndState) {
  Drain();
  {
    std::lock_guard lock(mu_);
    payloads_.clear();
  }
  db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at, estimated_runtime) "
           "SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, '" + std::string(testing::kWs1) +
           "', '" + testing::kAgent1 + "', 'running', 'epoch'::timestamptz + i * interval '1.000001 second', "
           "CASE WHEN i % 2 = 0 THEN 0.1::float8 * 3 END FROM generate_series(1, 250) i");
  db_.Exec("UPDATE agent_runs SET workspace_id = '" + std::string(testing::kWs2) +
           "' WHERE run_id = '00000000-0000-0000-0000-000000000007'");
  db_.Exec("UPDATE agent_runs SET workspace_id = NULL WHERE run_id = '00000000-0000-0000-0000-000000000008'");
  db_.Exec("UPDATE agent_runs SET user_id = 'u' WHERE run_id = '00000000-0000-0000-0000-000000000009'");
  db_.Exec("UPDATE agent_runs SET status = 'completed', finished_at = 'epoch'::timestamptz + interval '1 day' "
           "WHERE run_id = '00000000-0000-0000-0000-000000000010'");
  Drain();
  std::vector<std::string> payloads;
  {
    std::lock_guard lock(mu_);
    payloads = payloads_;
  }
  std::map<std::string, std::vector<std::string>> states;  // "<workspace>/<id>" -> its states in order
  int insert_notifications = 0;
  for (const auto& p : payloads) {
    if (p.rfind("agent_runs:", 0) != 0) continue;
    EXPECT_LE(p.size(), 8000u);
    std::string_view rest = std::string_view(p).substr(11);
    int n = 0;
    bool counted = false;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view entry = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (entry[0] == '#') {
        EXPECT_TRUE(rest.empty()) << "the count comes last: " << p;
        counted = true;
        continue;
      }
      const size_t equals = entry.find('=');
      ASSERT_NE(equals, std::string_view::npos) << entry;
      states[std::string(entry.substr(0, equals))].emplace_back(entry.substr(equals + 1));
      ++n;
    }
    EXPECT_TRUE(counted) << p;
    if (n > 2) ++insert_notifications;
  }
  EXPECT_GE(insert_notifications, 5) << "250 entries of about 150 bytes do not fit in four notifications";
  const std::string ws1 = testing::kWs1, ws2 = testing::kWs2, agent = testing::kAgent1;
  for (int i = 1; i <= 250; ++i) {
    char id[40];
    std::snprintf(id, sizeof id, "00000000-0000-0000-0000-%012d", i);
    const std::string started = std::to_string(i * 1'000'001LL) + ";";
    const std::string running = agent + ";" + started + (i % 2 == 0 ? "0.30000000000000004" : "");
    if (i == 7 || i == 8) {
      EXPECT_EQ(states[ws1 + "/" + id], (std::vector<std::string>{running, "-"})) << id << ": inserted, moved away";
    } else if (i == 9) {
      EXPECT_EQ(states[ws1 + "/" + id], (std::vector<std::string>{running, "~"})) << id << ": user_id changed";
    } else if (i == 10) {
      EXPECT_EQ(states[ws1 + "/" + id], (std::vector<std::string>{running, "-86400000000"})) << id << ": finished";
    } else {
      EXPECT_EQ(states[ws1 + "/" + id], std::vector<std::string>{running}) << id;
    }
  }
  EXPECT_EQ(states[ws2 + "/00000000-0000-0000-0000-000000000007"],
            std::vector<std::string>{agent + ";" + std::to_string(7 * 1'000'001LL) + ";"});
  EXPECT_EQ(states["/00000000-0000-0000-0000-000000000008"], std::vector<std::string>{"-"})
      << "no workspace: not counted";
  EXPECT_EQ(states.size(), 252u);
}

// A transaction that starts a run (and finishes another) with timestamps from its
// own start commits only after several samples: the incremental cache must pick
// both up when it commits, not miss them because newer rows were seen meanwhile.
TEST_F(RealtimeIncrementalTest, ALateCommitIsPickedUpWhenItCommits) {
  db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at, estimated_runtime) VALUES "
           "('00000000-0000-0000-0000-00000000000a', '" + std::string(testing::kWs1) + "', '" + testing::kAgent1 +
           "', 'running', " + At(-50'000'000) + ", 10)");
  ExpectSame("a running run");
  pqxx::connection late(db_.url());
  pqxx::work tx(late);
  tx.exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at, estimated_runtime) VALUES "
          "('00000000-0000-0000-0000-00000000000b', '" + std::string(testing::kWs1) + "', '" + testing::kAgent2 +
          "', 'running', " + At(-40'000'000) + ", 5)");
  tx.exec("UPDATE agent_runs SET status = 'completed', finished_at = " + At(-30'000'000) +
          " WHERE run_id = '00000000-0000-0000-0000-00000000000a'");
  tx.exec("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, status, queued_at) VALUES "
          "('00000000-0000-0000-0000-0000000000c1', '" + std::string(testing::kWs2) + "', '" + testing::kAgent3 +
          "', 'queued', " + At(-45'000'000) + ")");
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(seconds(1));
    db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at) VALUES (gen_random_uuid(), '" +
             std::string(testing::kWs2) + "', '" + testing::kAgent3 + "', 'running', " + At(0) + ")");
    ExpectSame("newer run " + std::to_string(i) + " while the late transaction is open");
    ASSERT_EQ(Running(testing::kWs1), 1) << "the late transaction is not visible yet";
    ASSERT_EQ(Running(testing::kWs2), i + 1);
  }
  tx.commit();
  clock_.Advance(seconds(1));
  ExpectSame("the late commit");
  EXPECT_EQ(Running(testing::kWs1), 1);  // a finished, b started
  EXPECT_EQ(Running(testing::kWs2), 5);
  EXPECT_EQ(testing::Value(last_, "agent_queue_depth", {{"workspace_id", testing::kWs2}}), 1);
  EXPECT_EQ(testing::Value(last_, "agent_queue_oldest_age_seconds", {{"workspace_id", testing::kWs2}}), 51);
  EXPECT_GE(inc_->incremental_reads(), 6u);
  EXPECT_EQ(inc_->full_reads(), 1u);
}

// The listener's connection is killed while rows change: what was committed in
// the gap is unannounced, so the next sample after the reconnect reads everything.
TEST_F(RealtimeIncrementalTest, AListenerGapForcesAFullRead) {
  ExpectSame("start-up");
  const std::uint64_t full_before = inc_->full_reads();
  db_.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
           "AND application_name = 'agent_execution_exporter/listen'");
  auto wait_for = [&](bool trusted) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(10);
    while (feed_->Trusted() != trusted && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(2));
    }
    return feed_->Trusted() == trusted;
  };
  ASSERT_TRUE(wait_for(false)) << "the listener never noticed";
  // Unannounced: the listener is down.
  db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at) VALUES (gen_random_uuid(), '" +
           std::string(testing::kWs1) + "', '" + testing::kAgent1 + "', 'running', " + At(-1'000'000) + ")");
  clock_.Advance(seconds(1));
  last_ = inc_->Collect(inc_db_);
  EXPECT_EQ(Dump(last_), Dump(full_->Collect(full_db_)));
  EXPECT_EQ(Running(testing::kWs1), 1);
  ASSERT_TRUE(wait_for(true)) << "the listener never came back";
  db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at) VALUES (gen_random_uuid(), '" +
           std::string(testing::kWs1) + "', '" + testing::kAgent1 + "', 'running', " + At(-2'000'000) + ")");
  clock_.Advance(seconds(1));
  ExpectSame("the reconnect");
  EXPECT_EQ(Running(testing::kWs1), 2);
  EXPECT_GE(inc_->full_reads(), full_before + 2);
}

// Without the triggers, the feed is not trusted: every sample reads everything.
TEST_F(RealtimeIncrementalTest, MissingTriggersMeanAFullReadEverySample) {
  db_.Exec("DROP TRIGGER agent_execution_notify_delete ON execution_queue");
  for (int i = 0; i < 3; ++i) {
    db_.Exec("INSERT INTO execution_queue (queue_id, workspace_id, status, queued_at) VALUES (gen_random_uuid(), '" +
             std::string(testing::kWs1) + "', 'queued', " + At(-1'000'000) + ")");
    clock_.Advance(seconds(1));
    ExpectSame("enqueue " + std::to_string(i));
  }
  EXPECT_EQ(inc_->incremental_reads(), 0u);
  EXPECT_FALSE(feed_->Trusted());
}

// Agent names for applied states are read once per agent and kept across resyncs
// while no change to agents was announced; a rename is a gap (a resync reads the
// new name with the rows) and the names are read afresh after it.
TEST_F(RealtimeIncrementalTest, AgentNamesAreReadOnceAndKeptAcrossResyncsUntilAnAgentChanges) {
  StartOneRunWithoutUserIds("00000000-0000-0000-0000-0000000000e1");  // kAgent1, named by the resync
  const std::uint64_t read = inc_->agent_names_read();
  auto start = [&](const std::string& run, const char* agent) {
    db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at) VALUES ('" + run + "', '" +
             testing::kWs1 + "', '" + agent + "', 'running', " + At(-1'000'000) + ")");
    clock_.Advance(seconds(1));
    ExpectSame("run " + run + " of " + agent + " started");
  };
  auto finish = [&](const std::string& run) {
    db_.Exec("UPDATE agent_runs SET status = 'completed', finished_at = " + At(0) + " WHERE run_id = '" + run + "'");
    clock_.Advance(seconds(1));
    ExpectSame("run " + run + " finished");
  };
  start("00000000-0000-0000-0000-0000000000e2", testing::kAgent2);
  EXPECT_EQ(inc_->agent_names_read(), read + 1) << "kAgent2's name, once";
  finish("00000000-0000-0000-0000-0000000000e2");
  const std::uint64_t full = inc_->full_reads();
  clock_.Advance(std::chrono::hours(2));  // past the resync interval: kAgent2 runs nothing then
  ExpectSame("a resync");
  EXPECT_EQ(inc_->full_reads(), full + 1);
  start("00000000-0000-0000-0000-0000000000e3", testing::kAgent2);
  EXPECT_EQ(inc_->agent_names_read(), read + 1) << "kept across the resync";
  finish("00000000-0000-0000-0000-0000000000e3");
  db_.Exec(std::string("UPDATE agents SET name = 'renamed' WHERE id = '") + testing::kAgent2 + "'");
  clock_.Advance(seconds(1));
  ExpectSame("kAgent2 renamed");  // a gap: a resync, kAgent2 running nothing
  start("00000000-0000-0000-0000-0000000000e4", testing::kAgent2);
  EXPECT_EQ(inc_->agent_names_read(), read + 2) << "read again after the rename";
}

// The runs collector exposes every known agent (0 before its first run), so it used
// to read the agents table every cycle; with a trusted feed it reads it only when a
// change to agents was announced.
TEST_F(RealtimeIncrementalTest, RunsReadsTheAgentsTableOnlyWhenAChangeIsAnnounced) {
  std::unique_ptr<RunsCollector> made = RunsOnATrustedFeed();
  if (HasFatalFailure()) return;
  RunsCollector& runs = *made;
  DbSession session(db_.url(), "test/runs");
  runs.Collect(session);
  EXPECT_EQ(runs.agents_reads(), 1u);
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(seconds(5));
    runs.Collect(session);
  }
  EXPECT_EQ(runs.agents_reads(), 1u) << "nothing announced: the cached list is current";
  const std::string added = "aaaaaaaa-0000-0000-0000-0000000000ff";
  db_.Exec("INSERT INTO agents (id, workspace_id, name) VALUES ('" + added + "', '" + testing::kWs1 + "', 'new')");
  Drain();
  clock_.Advance(seconds(5));
  const Snapshot snap = runs.Collect(session);
  EXPECT_EQ(runs.agents_reads(), 2u);
  EXPECT_TRUE(testing::Find(snap, "agent_run_runtime_seconds_total", {{"workspace_id", testing::kWs1}, {"agent_id", added}}))
      << "the new agent is exposed at 0";
  // Without a trusted feed (the listener down) every cycle reads it again.
  feed_->Disconnected();
  clock_.Advance(seconds(5));
  runs.Collect(session);
  clock_.Advance(seconds(5));
  runs.Collect(session);
  EXPECT_EQ(runs.agents_reads(), 4u);
}

// With a trusted feed the runs collector reads from the oldest finished_at
// announced since its last cycle (nothing when none), never from its frontier or in
// a sweep, and its counters equal a fresh start-up's after every step: runs
// finished now, a run finished with a timestamp two minutes old that commits now
// (the frontier's read counts it only at the next sweep), runs inserted already
// finished, finished runs updated again (counted once), a late transaction. A
// listener gap makes one read over the lateness window (a sweep), then the
// announced times take over again.
TEST_F(RealtimeIncrementalTest, RunsReadsFromTheOldestAnnouncedFinishAndCountsEachRunOnce) {
  std::unique_ptr<RunsCollector> made = RunsOnATrustedFeed();
  if (HasFatalFailure()) return;
  RunsCollector& runs = *made;
  DbSession session(db_.url(), "test/runs"), truth_session(db_.url(), "test/truth");
  Snapshot snap = runs.Collect(session);  // start-up
  auto read = [&](const char* scan) {
    return testing::Value(snap, "agent_exporter_rows_read_total", {{"collector", "runs"}, {"scan", scan}});
  };
  auto expect_counted = [&](const std::string& step) {
    Drain();
    clock_.Advance(seconds(1));
    snap = runs.Collect(session);
    RunsCollector truth(testing::Ctx(clock_), RunsCollectorOptions{});
    ASSERT_EQ(testing::Text(snap, "agent_run"), testing::Text(truth.Collect(truth_session), "agent_run"))
        << "after " << step;
  };
  const char* agents[] = {testing::kAgent1, testing::kAgent2, testing::kAgent3};
  auto start = [&](int n) {
    for (int i = 0; i < n; ++i) {
      db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at) VALUES "
               "(gen_random_uuid(), '" + std::string(i % 2 ? testing::kWs1 : testing::kWs2) + "', '" + agents[i % 3] +
               "', 'running', " + At(-3'000'000) + ", " + At(-2'000'000) + ")");
    }
  };
  auto finish = [&](int n, std::int64_t ago_us) {
    db_.Exec("UPDATE agent_runs SET status = (ARRAY['completed','failed','cancelled'])[1 + floor(random() * 3)::int], "
             "finished_at = " + At(-ago_us) + " WHERE run_id IN (SELECT run_id FROM agent_runs WHERE status = "
             "'running' ORDER BY random() LIMIT " + std::to_string(n) + ")");
  };
  std::mt19937 rng(7);
  for (int step = 0; step < 40; ++step) {
    std::string what;
    switch (rng() % 5) {
      case 0: what = "start"; start(1 + static_cast<int>(rng() % 3)); break;
      case 1: what = "finish now"; finish(1 + static_cast<int>(rng() % 3), 0); break;
      case 2: what = "finish two minutes back"; finish(1, 120'000'000); break;
      case 3:
        what = "insert finished";
        db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, "
                 "finished_at) VALUES (gen_random_uuid(), '" + std::string(testing::kWs1) + "', '" + agents[step % 3] +
                 "', 'completed', " + At(-9'000'000) + ", " + At(-8'000'000) + ", " + At(-1'000'000) + ")");
        break;
      default:
        what = "update finished runs";
        db_.Exec("UPDATE agent_runs SET user_id = 'u" + std::to_string(step) + "' WHERE finished_at IS NOT NULL");
        break;
    }
    expect_counted("step " + std::to_string(step) + ": " + what);
    if (HasFatalFailure()) return;
  }
  {
    pqxx::connection late(db_.url());
    pqxx::work tx(late);
    tx.exec("UPDATE agent_runs SET status = 'completed', finished_at = " + At(-1'000'000) +
            " WHERE run_id IN (SELECT run_id FROM agent_runs WHERE status = 'running' LIMIT 1)");
    start(2);
    expect_counted("while a late transaction is open");
    tx.commit();
  }
  expect_counted("the late commit");
  EXPECT_EQ(read("incremental"), 0) << "no frontier read";
  EXPECT_EQ(read("sweep"), 0);
  EXPECT_GT(read("announced"), 20);

  // A gap: what committed meanwhile was not announced. One range read over the
  // lateness window counts it, then the announced ids take over again.
  feed_->Disconnected();
  finish(1, 120'000'000);
  feed_->Connected();
  expect_counted("a listener gap");
  const double swept = read("sweep");
  EXPECT_GT(swept, 0);
  start(2);
  finish(2, 0);
  expect_counted("after the gap");
  EXPECT_EQ(read("sweep"), swept);
  EXPECT_EQ(read("incremental"), 0);
}

// With every finish time announced, runs reads only around those times: a run
// finished two minutes back and two finished now cost three rows, not the two
// minutes of finishes between them (which the oldest-time range read).
// With every finish time announced, runs reads only around those times: a run
// finished two minutes back and two finished now cost three rows, not the two
// minutes of finishes between them (which the oldest-time range read). The spans
// are read by a statement planned once per session; spans holding batch_rows rows or
// more are read again through the cursor (batch_rows 2 here), counted all the same.
class RunsSpansTest : public RealtimeIncrementalTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(RunsSpansTest, RunsReadsOnlyAroundTheAnnouncedFinishTimes) {
  const size_t batch_rows = GetParam();
  std::unique_ptr<RunsCollector> made = RunsOnATrustedFeed({.read_batch_rows = batch_rows});
  if (HasFatalFailure()) return;
  RunsCollector& runs = *made;
  DbSession session(db_.url(), "test/runs"), truth_session(db_.url(), "test/truth");
  Snapshot snap = runs.Collect(session);  // start-up
  auto announced = [&] {
    return testing::Value(snap, "agent_exporter_rows_read_total", {{"collector", "runs"}, {"scan", "announced"}});
  };
  auto insert = [&](const std::string& status, int n, std::int64_t ago_us, std::int64_t step_us) {
    for (int i = 0; i < n; ++i) {
      db_.Exec("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, queued_at, started_at, finished_at) "
               "VALUES (gen_random_uuid(), '" + std::string(testing::kWs1) + "', '" + testing::kAgent1 + "', '" +
               status + "', " + At(-ago_us - 2'000'000) + ", " + At(-ago_us - 1'000'000) + ", " +
               (status == "running" ? "NULL" : At(-ago_us + i * step_us)) + ")");
    }
  };
  auto cycle = [&] {
    Drain();
    clock_.Advance(seconds(1));
    snap = runs.Collect(session);
  };
  insert("completed", 60, 110'000'000, 1'500'000);  // one every 1.5 s from 110 s back
  insert("running", 3, 0, 0);
  cycle();
  const double before = announced();
  db_.Exec("UPDATE agent_runs SET status = 'failed', finished_at = " + At(-120'000'000) +
           " WHERE run_id = (SELECT run_id FROM agent_runs WHERE status = 'running' LIMIT 1)");
  db_.Exec("UPDATE agent_runs SET status = 'completed', finished_at = " + At(0) + " WHERE status = 'running'");
  cycle();
  // Fewer rows than batch_rows: one execution; else the limit's rows and the cursor's.
  EXPECT_EQ(announced() - before, batch_rows > 3 ? 3 : batch_rows + 3);
  RunsCollector truth(testing::Ctx(clock_), RunsCollectorOptions{});
  EXPECT_EQ(testing::Text(snap, "agent_run"), testing::Text(truth.Collect(truth_session), "agent_run"));
  pqxx::nontransaction q(session.Get());
  const pqxx::result plans =
      q.exec("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'aee_runs_spans'");
  ASSERT_EQ(plans.size(), 1u) << "the spans are read by a prepared statement";
  EXPECT_GE(plans[0][0].as<int>(), 1);
  EXPECT_EQ(plans[0][1].as<int>(), 0) << "planned once, not per execution";
}

INSTANTIATE_TEST_SUITE_P(BatchRows, RunsSpansTest, ::testing::Values(size_t{2000}, size_t{2}));

TEST(ChangeFeedTest, OnlyUnbrokenListsOfIdsAreComplete) {
  ChangeFeed feed(kChannel);
  feed.Notify("agent_runs:00000000-0000-0000-0000-000000000001");
  EXPECT_FALSE(feed.Take().complete) << "not connected yet";
  feed.Connected();
  EXPECT_FALSE(feed.Take().complete) << "what came before LISTEN is unknown";
  feed.Notify("agent_runs:00000000-0000-0000-0000-00000000000A,00000000-0000-0000-0000-000000000002");
  feed.Notify("execution_queue:00000000-0000-0000-0000-000000000003");
  ChangeFeed::Changes c = feed.Take();
  EXPECT_TRUE(c.complete);
  EXPECT_EQ(c.runs, (std::vector<std::string>{"00000000-0000-0000-0000-000000000002",
                                              "00000000-0000-0000-0000-00000000000a"}));
  EXPECT_EQ(c.queue, (std::vector<std::string>{"00000000-0000-0000-0000-000000000003"}));
  c = feed.Take();
  EXPECT_TRUE(c.complete && c.runs.empty() && c.queue.empty());
  const std::uint64_t generation = feed.agents_generation();
  for (const char* payload : {"agents", "workspaces", "agent_runs", "agent_runs:not-a-uuid",
                              "agent_runs:00000000-0000-0000-0000-000000000001;DROP", "models:x", ""}) {
    feed.Notify(payload);
    EXPECT_FALSE(feed.Take().complete) << payload;
    EXPECT_TRUE(feed.Take().complete) << "the gap ends with the Take() that reported it";
  }
  EXPECT_GT(feed.agents_generation(), generation);
  feed.Disconnected();
  EXPECT_FALSE(feed.Take().complete);
  EXPECT_FALSE(feed.Take().complete) << "still down";
}


// Entries "<workspace>/<id>": a shard keeps those of its own workspaces (an empty
// workspace is shard 0's) and says when a payload named nothing of its own; bare
// ids (the older triggers) are every shard's; a malformed workspace is a gap.
TEST(ChangeFeedTest, AShardKeepsTheEntriesOfItsOwnWorkspaces) {
  const std::string ws2 = "22222222-2222-2222-2222-222222222222";  // shard 0 of 4
  const std::string ws1 = "11111111-1111-1111-1111-111111111111";  // shard 2 of 4
  ASSERT_EQ(ShardOfWorkspace(ws2, 4), 0);
  ASSERT_EQ(ShardOfWorkspace(ws1, 4), 2);
  const std::string a = "00000000-0000-0000-0000-00000000000a", b = "00000000-0000-0000-0000-00000000000b";
  ChangeFeed shard0(kChannel, 4, 0), shard2(kChannel, 4, 2), all(kChannel);
  for (ChangeFeed* f : {&shard0, &shard2, &all}) f->Connected(), f->Take();

  const std::string moved = "agent_runs:" + ws2 + "/" + a + "," + ws1 + "/" + a;  // a moved between them
  EXPECT_TRUE(shard0.Notify(moved));
  EXPECT_TRUE(shard2.Notify(moved));
  EXPECT_TRUE(all.Notify(moved));
  const std::string only_ws1 = "execution_queue:" + ws1 + "/" + b;
  EXPECT_FALSE(shard0.Notify(only_ws1)) << "another shard's row only";
  EXPECT_TRUE(shard2.Notify(only_ws1));
  EXPECT_TRUE(all.Notify(only_ws1));
  const std::string no_workspace = "agent_runs:/" + b;
  EXPECT_TRUE(shard0.Notify(no_workspace));
  EXPECT_FALSE(shard2.Notify(no_workspace));
  const std::string bare = "execution_queue:" + a;  // the older payload
  EXPECT_TRUE(shard0.Notify(bare));
  EXPECT_TRUE(shard2.Notify(bare));

  ChangeFeed::Changes c0 = shard0.Take(), c2 = shard2.Take(), call = all.Take();
  EXPECT_TRUE(c0.complete && c2.complete && call.complete);
  EXPECT_EQ(c0.runs, (std::vector<std::string>{a, b}));
  EXPECT_EQ(c0.queue, (std::vector<std::string>{a}));
  EXPECT_EQ(c2.runs, (std::vector<std::string>{a}));
  EXPECT_EQ(c2.queue, (std::vector<std::string>{a, b}));
  EXPECT_EQ(call.runs, (std::vector<std::string>{a}));
  EXPECT_EQ(call.queue, (std::vector<std::string>{b}));

  for (const std::string& payload : {"agent_runs:not-a-uuid/" + a, "agent_runs:" + ws1 + "/" + a + "/x",
                                     "agent_runs:" + ws1 + "/"}) {
    EXPECT_TRUE(shard0.Notify(payload)) << payload;
    EXPECT_FALSE(shard0.Take().complete) << payload;
    EXPECT_TRUE(shard0.Take().complete);
  }
}

// Entries with a state: a row's latest state wins; a row named without one (to be
// read) stays to be read; "#<n>" is skipped; a state without a workspace, or an
// empty one, is a gap.
TEST(ChangeFeedTest, ARowsLatestAnnouncedStateWinsUnlessItMustBeRead) {
  const std::string ws = "11111111-1111-1111-1111-111111111111";
  const std::string a = "00000000-0000-0000-0000-00000000000a", b = "00000000-0000-0000-0000-00000000000b";
  ChangeFeed feed(kChannel);
  feed.Connected();
  feed.Take();
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + a + "=;1;,#1"));
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + a + "=-," + ws + "/" + b + "=;2;0.5,#2"));
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + b + ",#3"));  // b: to be read
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + b + "=;3;,#4"));
  EXPECT_TRUE(feed.Notify("execution_queue:" + ws + "/" + a + "=;4;0;n"));
  EXPECT_TRUE(feed.Notify("execution_queue:" + ws + "/" + a + "=~,#9"));  // a later update that changed nothing
  ChangeFeed::Changes c = feed.Take();
  ASSERT_TRUE(c.complete);
  ASSERT_EQ(c.run_states.size(), 1u);
  EXPECT_EQ(c.run_states[0].id, a);
  EXPECT_EQ(c.run_states[0].workspace, ws);
  EXPECT_EQ(c.run_states[0].state, "-");
  EXPECT_EQ(c.runs, std::vector<std::string>{b});
  ASSERT_EQ(c.queue_states.size(), 1u);
  EXPECT_EQ(c.queue_states[0].state, ";4;0;n");
  EXPECT_TRUE(c.queue.empty());
  // agent_runs: "-<finished_at>" gives the oldest finished_at; a run without a
  // finish ("-n"), a gone row ("-"), a running one or "~" none; an entry without a
  // state (older triggers) leaves the runs' list incomplete, not the realtime one's.
  feed.SetTriggersVerified(true);
  EXPECT_FALSE(feed.TakeFinished().complete) << "b above had no state";
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + a + "=-700," + ws + "/" + b + "=-n,#7"));
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + b + "=-,/" + a + "=-," + ws + "/" + a + "=~,#8"));
  ChangeFeed::Oldest finished = feed.TakeFinished();
  EXPECT_TRUE(finished.complete);
  EXPECT_EQ(finished.us, std::optional<std::int64_t>(700));
  EXPECT_EQ(finished.times, std::optional(std::vector<std::int64_t>{700}));
  EXPECT_TRUE(feed.Take().complete);
  // Every finish time, sorted, each once; more than kMaxFinishedTimes: only the oldest.
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + a + "=-900," + ws + "/" + b + "=-800,#1"));
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + b + "=-900,#2"));
  finished = feed.TakeFinished();
  EXPECT_EQ(finished.us, std::optional<std::int64_t>(800));
  EXPECT_EQ(finished.times, std::optional(std::vector<std::int64_t>{800, 900}));
  for (size_t i = 0; i <= ChangeFeed::kMaxFinishedTimes; ++i) {
    feed.Notify("agent_runs:" + ws + "/" + a + "=-" + std::to_string(1000 + i) + ",#" + std::to_string(i));
  }
  finished = feed.TakeFinished();
  EXPECT_TRUE(finished.complete);
  EXPECT_EQ(finished.us, std::optional<std::int64_t>(1000));
  EXPECT_FALSE(finished.times.has_value()) << "too many to keep";
  EXPECT_EQ(feed.TakeFinished().times, std::optional(std::vector<std::int64_t>{})) << "kept again after a take";
  feed.Take();
  EXPECT_TRUE(feed.Notify("agent_runs:" + ws + "/" + a));
  EXPECT_FALSE(feed.TakeFinished().complete);
  EXPECT_TRUE(feed.Take().complete) << "the realtime collector reads that row";
  for (const std::string& payload : {"agent_runs:" + a + "=;1;", "agent_runs:" + ws + "/" + a + "=",
                                     "agent_runs:" + ws + "/" + a + "=;1;,#x"}) {
    feed.Notify(payload);
    EXPECT_FALSE(feed.Take().complete) << payload;
    EXPECT_TRUE(feed.Take().complete);
  }
}

}  // namespace
}  // namespace aee
