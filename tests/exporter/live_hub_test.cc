// The live view of issue #12 end to end in-process: rows in a real PostgreSQL, the
// realtime and workers collectors' cycles, the JSON API and the WebSocket.
#include "exporter/live_hub.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "exporter/app.h"
#include "exporter/workspace_tokens.h"
#include "tests/support/http_client.h"
#include "tests/support/run_data.h"
#include "tests/support/test_db.h"
#include "tests/support/ws_client.h"

namespace aee {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::HttpGet;
using testing::kAgent1;
using testing::kAgent2;
using testing::kAgent3;
using testing::kWs1;
using testing::kWs2;
using testing::WsClient;

std::string RealtimePath(const std::string& ws) { return "/api/v1/workspaces/" + ws + "/realtime"; }

class LiveHubTest : public ::testing::Test {
 protected:
  void SetUp() override { testing::InsertWorkspacesAndAgents(db_); }
  std::unique_ptr<Exporter> Start(std::vector<std::string> flags = {}) {
    Config cfg;
    std::string err;
    flags.insert(flags.begin(), "--web.listen-address=127.0.0.1:0");
    EXPECT_TRUE(ParseFlags(flags, [](const char*) -> const char* { return nullptr; }, &cfg, &err)) << err;
    cfg.db_url = db_.url();
    logger_.SetSinkForTest(&log_);
    auto e = std::make_unique<Exporter>(cfg, clock_, logger_);
    EXPECT_TRUE(e->Start(&err, /*start_collectors=*/false)) << err;
    return e;
  }
  // One cycle of the named collector (the live view follows the realtime one).
  static void Cycle(Exporter& e, const std::string& name) {
    const auto status = e.scheduler().Status();
    for (size_t i = 0; i < status.size(); ++i) {
      if (status[i].name == name) {
        EXPECT_TRUE(e.scheduler().RunOnce(i)) << name;
        return;
      }
    }
    ADD_FAILURE() << "no collector " << name;
  }
  static json Get(Exporter& e, const std::string& path, const std::map<std::string, std::string>& headers = {}) {
    auto r = HttpGet(e.port(), path, headers);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.headers["content-type"], "application/json");
    return json::parse(r.body);
  }
  std::string TokensFile() {
    const std::string path = ::testing::TempDir() + "/live_tokens_" + std::to_string(getpid()) + ".yml";
    std::ofstream(path) << "tokens:\n  - name: team-a\n    sha256: \"" << Sha256Hex("team-a-secret") << "\"\n"
                        << "    workspaces: [\"" << kWs1 << "\"]\n"
                        << "  - name: operator\n    sha256: \"" << Sha256Hex("operator-secret") << "\"\n"
                        << "    workspaces: [\"*\"]\n";
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& f : files_) std::remove(f.c_str());
  }

  testing::TestDb db_;
  SystemClock clock_;
  Logger logger_{LogLevel::kDebug, LogFormat::kLogfmt};
  std::string log_;
  std::vector<std::string> files_;
};

// Fixed timestamps in the past make every derived time exact.
void InsertLiveRows(testing::TestDb& db) {
  db.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, user_id, status, queued_at, started_at, "
                      "estimated_runtime) VALUES ") +
          "('00000000-0000-0000-0001-000000000001', '" + kWs1 + "', '" + kAgent1 +
          "', 'alice', 'running', '2020-01-01T00:00:00Z', '2020-01-01T00:00:10Z', 30), "
          "('00000000-0000-0000-0001-000000000002', '" + kWs1 + "', '" + kAgent2 +
          "', 'bob', 'running', '2020-01-01T00:00:00Z', '2020-01-01T00:00:20Z', NULL), "
          "('00000000-0000-0000-0001-000000000003', '" + kWs1 + "', NULL, NULL, 'running', NULL, '2020-01-01T00:00:30Z', 5), "
          "('00000000-0000-0000-0002-000000000001', '" + kWs2 + "', '" + kAgent3 +
          "', 'carol', 'running', NULL, '2020-01-01T00:00:05Z', 60), "
          "('00000000-0000-0000-0001-000000000009', '" + kWs1 + "', '" + kAgent1 +
          "', 'dave', 'completed', NULL, '2020-01-01T00:00:00Z', 1);" +
          "INSERT INTO execution_queue (queue_id, workspace_id, agent_id, priority, status, queued_at, "
          "estimated_start_time) VALUES "
          "('00000000-0000-0000-000a-000000000001', '" + kWs1 + "', '" + kAgent1 + "', 2, 'queued', '2020-01-01T00:01:00Z', NULL), "
          "('00000000-0000-0000-000a-000000000002', '" + kWs1 + "', '" + kAgent2 + "', 5, 'queued', '2020-01-01T00:01:30Z', NULL), "
          "('00000000-0000-0000-000a-000000000003', '" + kWs1 + "', '" + kAgent1 + "', 5, 'queued', '2020-01-01T00:01:10Z', '2100-01-01T00:05:00Z'), "
          "('00000000-0000-0000-000a-000000000004', '" + kWs1 + "', '" + kAgent1 + "', 9, 'dispatched', '2020-01-01T00:00:00Z', NULL), "
          "('00000000-0000-0000-000b-000000000001', '" + kWs2 + "', '" + kAgent3 + "', 1, 'queued', '2020-01-01T00:02:00Z', NULL);");
}

TEST_F(LiveHubTest, RealtimeListsRunsAndQueueWithExactValuesAndPositions) {
  InsertLiveRows(db_);
  auto e = Start();
  Cycle(*e, "realtime");
  const json j = Get(*e, RealtimePath(kWs1));
  EXPECT_EQ(j["workspaceId"], kWs1);
  EXPECT_EQ(j["workspaceName"], "Team A");
  EXPECT_EQ(j["currentlyRunning"], 3);
  EXPECT_EQ(j["queueDepth"], 3);
  const json& runs = j["executionsInProgress"];
  ASSERT_EQ(runs.size(), 3u);
  // Longest-running first.
  EXPECT_EQ(runs[0]["runId"], "00000000-0000-0000-0001-000000000001");
  EXPECT_EQ(runs[0]["agentId"], kAgent1);
  EXPECT_EQ(runs[0]["agentName"], "summarizer");
  EXPECT_EQ(runs[0]["startedAt"], "2020-01-01T00:00:10.000Z");
  EXPECT_EQ(runs[0]["estimatedRuntime"], 30.0);
  EXPECT_EQ(runs[0]["estimatedCompletion"], "2020-01-01T00:00:40.000Z");
  EXPECT_EQ(runs[0]["overdue"], true);
  EXPECT_FALSE(runs[0].contains("userId")) << "user ids are not read by default";
  EXPECT_GT(runs[0]["elapsedTime"].get<double>(), 1e8);
  EXPECT_EQ(runs[1]["estimatedRuntime"], nullptr);
  EXPECT_EQ(runs[1]["estimatedCompletion"], nullptr);
  EXPECT_EQ(runs[1]["overdue"], false);
  EXPECT_EQ(runs[2]["agentId"], nullptr);
  EXPECT_EQ(runs[2]["agentName"], nullptr);
  // Dequeue order: priority first, then the oldest.
  const json& queue = j["queuedExecutions"];
  ASSERT_EQ(queue.size(), 3u);
  EXPECT_EQ(queue[0]["queueId"], "00000000-0000-0000-000a-000000000003");
  EXPECT_EQ(queue[0]["position"], 1);
  EXPECT_EQ(queue[0]["priority"], 5);
  EXPECT_EQ(queue[0]["queuedAt"], "2020-01-01T00:01:10.000Z");
  EXPECT_EQ(queue[0]["estimatedStartTime"], "2100-01-01T00:05:00.000Z") << "the platform's own estimate wins";
  EXPECT_EQ(queue[1]["queueId"], "00000000-0000-0000-000a-000000000002");
  EXPECT_EQ(queue[1]["agentName"], "coder");
  EXPECT_EQ(queue[2]["queueId"], "00000000-0000-0000-000a-000000000001");
  EXPECT_EQ(queue[2]["position"], 3);
  EXPECT_EQ(j["truncated"], json({{"executionsInProgress", false}, {"queuedExecutions", false}}));
  for (const char* other : {"00000000-0000-0000-0002-000000000001", "00000000-0000-0000-000b-000000000001",
                            "00000000-0000-0000-0001-000000000009", "00000000-0000-0000-000a-000000000004"}) {
    EXPECT_EQ(j.dump().find(other), std::string::npos) << other << " does not belong in this view";
  }
  const json list = Get(*e, "/api/v1/workspaces");
  ASSERT_EQ(list["workspaces"].size(), 2u);
  EXPECT_EQ(list["workspaces"][0], json({{"id", kWs1}, {"name", "Team A"}, {"currentlyRunning", 3}, {"queueDepth", 3}}));
  EXPECT_EQ(list["workspaces"][1]["currentlyRunning"], 1);
}

TEST_F(LiveHubTest, ListsAreCappedWithTheTrueTotals) {
  InsertLiveRows(db_);
  auto e = Start({"--api.max-executions=2", "--api.queue-order=fifo"});
  Cycle(*e, "realtime");
  const json j = Get(*e, RealtimePath(kWs1));
  EXPECT_EQ(j["currentlyRunning"], 3);
  EXPECT_EQ(j["executionsInProgress"].size(), 2u);
  EXPECT_EQ(j["queueDepth"], 3);
  ASSERT_EQ(j["queuedExecutions"].size(), 2u);
  // fifo: the oldest first, whatever the priority.
  EXPECT_EQ(j["queuedExecutions"][0]["queueId"], "00000000-0000-0000-000a-000000000001");
  EXPECT_EQ(j["truncated"], json({{"executionsInProgress", true}, {"queuedExecutions", true}}));
}

TEST_F(LiveHubTest, EstimatesStartsFromFreeSlotsAndRunningEstimates) {
  db_.Exec(std::string("INSERT INTO workers VALUES ('w1', '") + kWs1 + "', 'busy', 3, 40, 50, NULL, now()), " +
           "('w2', '" + kWs1 + "', 'idle', 1, 20, 30, NULL, now())");
  db_.Exec(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at, estimated_runtime) "
                       "VALUES ('00000000-0000-0000-0001-000000000001', '") + kWs1 + "', '" + kAgent1 +
           "', 'running', now() - interval '10 s', 3600)");
  db_.Exec(std::string("INSERT INTO execution_queue (queue_id, workspace_id, agent_id, priority, status, queued_at) "
                       "SELECT ('00000000-0000-0000-000a-00000000000' || i)::uuid, '") + kWs1 + "', '" + kAgent1 +
           "', 0, 'queued', now() - i * interval '1 s' FROM generate_series(1, 5) i");
  auto e = Start();
  Cycle(*e, "workers");
  Cycle(*e, "realtime");
  const json j = Get(*e, RealtimePath(kWs1));
  const json& q = j["queuedExecutions"];
  ASSERT_EQ(q.size(), 5u);
  // 4 slots, 1 running: 3 start now (at the sample), the 4th when the running run's
  // estimate ends, the 5th is unknown.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(q[i]["estimatedStartTime"], j["updatedAt"]) << i;
  EXPECT_EQ(q[3]["estimatedStartTime"], j["executionsInProgress"][0]["estimatedCompletion"]);
  EXPECT_EQ(q[4]["estimatedStartTime"], nullptr);
  EXPECT_EQ(j["systemLoad"], json({{"cpu", 30.0}, {"memory", 40.0}, {"workers", {{"total", 2}, {"busy", 1}, {"idle", 1}}}}));
}

TEST_F(LiveHubTest, WebSocketSendsTheViewThenEachChangeAndNothingElse) {
  InsertLiveRows(db_);
  auto e = Start();
  Cycle(*e, "realtime");
  WsClient ws;
  ASSERT_EQ(ws.Connect(e->port(), RealtimePath(kWs1) + "/ws"), 101);
  EXPECT_EQ(ws.headers().at("sec-websocket-protocol"), "aee.v1");
  auto first = ws.Read(milliseconds(5000));
  ASSERT_TRUE(first);
  json m = json::parse(*first);
  EXPECT_EQ(m["event"], "execution_update");
  EXPECT_EQ(m["data"]["currentlyRunning"], 3);
  // The GET and the push are the same object.
  const json get = Get(*e, RealtimePath(kWs1));
  EXPECT_EQ(m["data"]["executionsInProgress"][0]["runId"], get["executionsInProgress"][0]["runId"]);

  // Commits sql, runs a realtime cycle and reads what the subscriber got within wait.
  auto after = [&](const std::string& sql, milliseconds wait) {
    if (!sql.empty()) db_.Exec(sql);
    Cycle(*e, "realtime");
    return ws.Read(wait);
  };

  // Nothing happened: elapsed times moved, but no message.
  EXPECT_FALSE(after("", milliseconds(1200))) << "a message although nothing changed";

  // A new run in this workspace: one message with it.
  auto second = after(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at) VALUES "
                                  "('00000000-0000-0000-0001-000000000004', '") +
                          kWs1 + "', '" + kAgent2 + "', 'running', now())",
                      milliseconds(5000));
  ASSERT_TRUE(second);
  m = json::parse(*second);
  EXPECT_EQ(m["data"]["currentlyRunning"], 4);
  EXPECT_NE(second->find("00000000-0000-0000-0001-000000000004"), std::string::npos);

  // A run in another workspace: no message here.
  EXPECT_FALSE(after(std::string("INSERT INTO agent_runs (run_id, workspace_id, agent_id, status, started_at) VALUES "
                                 "(gen_random_uuid(), '") +
                         kWs2 + "', '" + kAgent3 + "', 'running', now())",
                     milliseconds(1200)))
      << "another workspace's change reached this one";

  // A finished run leaves the list.
  auto third = after("UPDATE agent_runs SET status = 'completed', finished_at = now() "
                     "WHERE run_id = '00000000-0000-0000-0001-000000000001'",
                     milliseconds(5000));
  ASSERT_TRUE(third);
  m = json::parse(*third);
  EXPECT_EQ(m["data"]["currentlyRunning"], 3);
  EXPECT_EQ(third->find("00000000-0000-0000-0001-000000000001"), std::string::npos);
  EXPECT_EQ(e->live()->subscribers(), 1u);
}

TEST_F(LiveHubTest, AScopedTokenSeesOnlyItsWorkspaceOnEveryRoute) {
  InsertLiveRows(db_);
  db_.Exec("INSERT INTO workers VALUES ('shared-1', NULL, 'busy', 2, 70, 80, NULL, now())");
  auto e = Start({"--web.workspace-tokens-file=" + TokensFile()});
  Cycle(*e, "workers");
  Cycle(*e, "realtime");
  const std::map<std::string, std::string> team_a = {{"Authorization", "Bearer team-a-secret"}};
  const json list = Get(*e, "/api/v1/workspaces", team_a);
  ASSERT_EQ(list["workspaces"].size(), 1u);
  EXPECT_EQ(list["workspaces"][0]["id"], kWs1);
  EXPECT_EQ(list.dump().find(kWs2), std::string::npos);
  // Another tenant's workspace and one that does not exist look the same.
  for (const std::string& ws : {std::string(kWs2), std::string("33333333-3333-3333-3333-333333333333")}) {
    auto r = HttpGet(e->port(), RealtimePath(ws), team_a);
    EXPECT_EQ(r.status, 404) << ws;
    EXPECT_EQ(r.body, "{\"error\":\"no such workspace\"}\n");
    WsClient refused;
    EXPECT_EQ(refused.Connect(e->port(), RealtimePath(ws) + "/ws", "aee.v1, bearer.team-a-secret"), 404) << ws;
  }
  // The shared pool's load is platform-wide: not for a scoped token.
  const json own = Get(*e, RealtimePath(kWs1), team_a);
  EXPECT_EQ(own["systemLoad"]["workers"]["total"], 0);
  EXPECT_EQ(own["systemLoad"]["cpu"], nullptr);
  const json op = Get(*e, RealtimePath(kWs1), {{"Authorization", "Bearer operator-secret"}});
  EXPECT_EQ(op["systemLoad"]["workers"]["total"], 1);
  EXPECT_EQ(op["systemLoad"]["cpu"], 70.0);
  // The token as a WebSocket subprotocol (browsers cannot set headers).
  WsClient ws;
  ASSERT_EQ(ws.Connect(e->port(), RealtimePath(kWs1) + "/ws", "aee.v1, bearer.team-a-secret"), 101);
  auto first = ws.Read(milliseconds(5000));
  ASSERT_TRUE(first);
  EXPECT_EQ(json::parse(*first)["data"]["workspaceId"], kWs1);
  // No credential, or a wrong one: 401 on the API and the upgrade; the page loads.
  EXPECT_EQ(HttpGet(e->port(), "/api/v1/workspaces").status, 401);
  EXPECT_EQ(HttpGet(e->port(), RealtimePath(kWs1), {{"Authorization", "Bearer wrong"}}).status, 401);
  WsClient anonymous, wrong;
  EXPECT_EQ(anonymous.Connect(e->port(), RealtimePath(kWs1) + "/ws"), 401);
  EXPECT_EQ(wrong.Connect(e->port(), RealtimePath(kWs1) + "/ws", "aee.v1, bearer.wrong"), 401);
  auto page = HttpGet(e->port(), "/live");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.headers["content-security-policy"].find("default-src 'none'"), std::string::npos);
}

TEST_F(LiveHubTest, SubscribersBeyondMaxClientsGet503) {
  auto e = Start({"--api.max-clients=2"});
  Cycle(*e, "realtime");
  auto a = std::make_unique<WsClient>();
  WsClient b, c;
  ASSERT_EQ(a->Connect(e->port(), RealtimePath(kWs1) + "/ws"), 101);
  ASSERT_EQ(b.Connect(e->port(), RealtimePath(kWs2) + "/ws"), 101);
  EXPECT_EQ(c.Connect(e->port(), RealtimePath(kWs1) + "/ws"), 503);
  EXPECT_EQ(c.headers().at("retry-after"), "5");
  a.reset();  // one leaves: a place frees up
  int status = 0;
  for (int i = 0; i < 50 && status != 101; ++i) {
    WsClient d;
    status = d.Connect(e->port(), RealtimePath(kWs1) + "/ws");
    if (status != 101) usleep(100'000);
  }
  EXPECT_EQ(status, 101);
}

TEST_F(LiveHubTest, UnexpectedOrOversizedFramesCloseTheConnection) {
  auto e = Start();
  Cycle(*e, "realtime");
  WsClient pinger, talker, big;
  ASSERT_EQ(pinger.Connect(e->port(), RealtimePath(kWs1) + "/ws"), 101);
  ASSERT_EQ(talker.Connect(e->port(), RealtimePath(kWs1) + "/ws"), 101);
  ASSERT_EQ(big.Connect(e->port(), RealtimePath(kWs1) + "/ws"), 101);
  ASSERT_TRUE(pinger.Read(milliseconds(5000)));
  EXPECT_TRUE(pinger.SendFrame(0x9, "are you there"));
  EXPECT_FALSE(pinger.ClosedWithin(milliseconds(800))) << "a ping closed the connection";
  EXPECT_TRUE(talker.SendFrame(0x1, "{\"subscribe\":\"everything\"}"));
  EXPECT_TRUE(talker.ClosedWithin(milliseconds(5000)));
  EXPECT_TRUE(big.SendFrame(0x2, std::string(64 * 1024, 'x')));
  EXPECT_TRUE(big.ClosedWithin(milliseconds(5000)));
}

// civetweb holds a whole incoming frame in memory before a handler sees it (up to
// 2 GiB announced): the watchdog ends a connection once it has received more than
// its allowance, so a client streaming a huge frame is cut after a few MB.
TEST_F(LiveHubTest, AClientStreamingAHugeFrameIsCutAtItsAllowance) {
  auto e = Start();
  Cycle(*e, "realtime");
  WsClient flood;
  ASSERT_EQ(flood.Connect(e->port(), RealtimePath(kWs1) + "/ws"), 101);
  std::string header = {static_cast<char>(0x82), static_cast<char>(0x80 | 127), 0, 0, 0, 0x40, 0, 0, 0, 0};
  header += "mask";  // 1 GiB announced, masked
  ASSERT_TRUE(flood.SendRaw(header));
  const std::string chunk(1 << 16, 'x');
  size_t sent = 0;
  while (sent < (256u << 20) && flood.SendRaw(chunk)) sent += chunk.size();
  EXPECT_LT(sent, 64u << 20) << "the server kept reading a frame far past the allowance";
  EXPECT_TRUE(flood.ClosedWithin(milliseconds(5000)));
  // Everyone else is still served.
  WsClient other;
  ASSERT_EQ(other.Connect(e->port(), RealtimePath(kWs1) + "/ws"), 101);
  EXPECT_TRUE(other.Read(milliseconds(5000)));
}

TEST_F(LiveHubTest, UserIdsOnlyWhenAskedAndHashedWithTheKey) {
  InsertLiveRows(db_);
  const std::string key_file = ::testing::TempDir() + "/uid_key_" + std::to_string(getpid());
  std::ofstream(key_file) << "0123456789abcdef-secret-key\n";
  files_.push_back(key_file);
  auto hashed = Start({"--api.user-id=hash", "--api.user-id-key-file=" + key_file});
  Cycle(*hashed, "realtime");
  json j = Get(*hashed, RealtimePath(kWs1));
  EXPECT_EQ(j["executionsInProgress"][0]["userId"], HashUserId("0123456789abcdef-secret-key", "alice"));
  EXPECT_EQ(j["executionsInProgress"][0]["userId"].get<std::string>().size(), 32u);
  EXPECT_EQ(j.dump().find("alice"), std::string::npos);
  EXPECT_FALSE(j["executionsInProgress"][2].contains("userId")) << "a NULL user_id shows no field";
  auto plain = Start({"--api.user-id=plain"});
  Cycle(*plain, "realtime");
  j = Get(*plain, RealtimePath(kWs1));
  EXPECT_EQ(j["executionsInProgress"][1]["userId"], "bob");
}

TEST_F(LiveHubTest, OffWhenDisabled) {
  auto e = Start({"--api.enabled=false"});
  Cycle(*e, "realtime");
  EXPECT_EQ(e->live(), nullptr);
  EXPECT_EQ(HttpGet(e->port(), "/api/v1/workspaces").status, 404);
  EXPECT_EQ(HttpGet(e->port(), "/live").status, 404);
}

}  // namespace
}  // namespace aee
