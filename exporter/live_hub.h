#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <optional>
#include <thread>

#include "collectors/live_view.h"
#include "core/clock.h"
#include "core/http_server.h"
#include "core/log.h"

namespace aee {

/// Options of the live view (flags --api.*).
struct LiveHubOptions {
  /// WebSocket subscribers at once; further upgrades get 503.
  int max_clients = 32;
  /// A heartbeat message this often on every WebSocket.
  std::chrono::milliseconds heartbeat{10000};
  /// A subscriber that could not take a message for this long is dropped.
  std::chrono::milliseconds stall_timeout{30000};
};

/// Which workspaces a caller may see: every one (operators) or a token's set.
struct LiveScope {
  bool all = true;
  const std::set<std::string, std::less<>>* workspaces = nullptr;  // when !all
  bool Sees(const std::string& workspace) const { return all || workspaces->count(workspace) != 0; }
};

/// The live view behind /api/v1/workspaces… and its WebSocket push (issue #12).
///
/// The realtime collector publishes one LiveView per cycle and the workers
/// collector the pools' load; every GET and every subscriber reads those: one
/// database read serves them all. A sender thread renders each changed workspace
/// once and offers it to the workspace's subscribers without blocking: a
/// subscriber whose connection cannot take it gets the latest state once it can,
/// and is dropped after stall_timeout. The collector never waits on a client.
class LiveHub {
 public:
  /// steady_clock paces the hub's tick (retries of lagging subscribers, heartbeats).
  LiveHub(LiveHubOptions options, const Clock& clock, Logger& logger,
          const SteadyClock& steady_clock = RealSteadyClock::Instance());
  ~LiveHub();
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  void Start();
  void Stop();

  /// Sinks for the collectors (CollectorContext::on_live_view, on_pool_loads).
  void PublishView(std::shared_ptr<const LiveView> view);
  void PublishPools(std::shared_ptr<const PoolLoads> pools);

  /// GET /api/v1/workspaces.
  std::string WorkspacesJson(const LiveScope& scope) const;
  /// GET /api/v1/workspaces/{id}/realtime; false when the workspace is unknown.
  /// platform: whether the caller may see the shared worker pool's load.
  bool RealtimeJson(const std::string& workspace, bool platform, std::string* out) const;
  /// Whether a view has been sampled yet (503 before the first realtime cycle).
  bool has_view() const;

  /// WebSocket: a subscription for workspace, or 503 with *reject when full.
  int Subscribe(const std::string& workspace, bool platform, HttpResponse* reject, std::shared_ptr<void>* state);
  void Ready(const std::shared_ptr<WebSocketPeer>& peer);
  void Closed(const std::shared_ptr<WebSocketPeer>& peer);

  std::size_t subscribers() const;
  /// Messages sent, subscribers dropped for stalling, since start.
  std::uint64_t messages_sent() const;
  std::uint64_t subscribers_dropped() const;

 private:
  struct Subscription {
    std::string workspace;
    bool platform = false;
    std::string sent_key;  // the change key of the last message it took
    bool force = true;     // send even if the key did not change (first message)
    std::optional<Clock::time_point> behind_since;
  };
  void Run();

  LiveHubOptions options_;
  const Clock& clock_;
  const SteadyClock& steady_clock_;
  Logger& logger_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const LiveView> view_;
  std::shared_ptr<const PoolLoads> pools_;
  std::uint64_t version_ = 0;  // bumped by each publish
  // Subscriptions' fields other than workspace and platform are the sender
  // thread's alone.
  std::map<std::shared_ptr<WebSocketPeer>, std::shared_ptr<Subscription>> subs_;
  int reserved_ = 0;  // accepted upgrades whose handshake is not done yet
  bool stopping_ = false;
  std::uint64_t sent_ = 0;
  std::uint64_t dropped_ = 0;
  std::thread thread_;
};

}  // namespace aee
