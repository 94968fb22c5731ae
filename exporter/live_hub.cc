#include "exporter/live_hub.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <nlohmann/json.hpp>

#include "collectors/collector.h"

namespace aee {
namespace {

using nlohmann::ordered_json;

double Round2(double v) { return std::round(v * 100) / 100; }

ordered_json Time(std::optional<std::int64_t> us) {
  return us ? ordered_json(FormatRfc3339Millis(*us)) : ordered_json(nullptr);
}

ordered_json Text(const std::string& s) { return s.empty() ? ordered_json(nullptr) : ordered_json(s); }

// The load a workspace's runs see: its own pool when it has one, else the shared
// pool, which only callers that may see platform-wide figures get.
const PoolLoad* PoolOf(const PoolLoads* pools, const std::string& workspace, bool platform) {
  if (pools == nullptr) return nullptr;
  if (auto it = pools->find(workspace); it != pools->end()) return &it->second;
  if (!platform) return nullptr;
  auto shared = pools->find("");
  return shared != pools->end() ? &shared->second : nullptr;
}

// When each queue entry may start, from the workspace's own figures (see
// docs/api.md, "estimatedStartTime"): the platform's estimate when the row has
// one; else entry k starts at once while k is within the free slots of the
// workspace's own pool, and after that when the (k - free)-th running run expected
// to finish does (its start plus its estimate; overdue runs count as finishing
// now); null when fewer running runs have an estimate.
std::vector<std::optional<std::int64_t>> EstimateStarts(const LiveWorkspace& ws, const PoolLoads* pools,
                                                        std::int64_t now_us) {
  std::int64_t free = 0;
  if (pools != nullptr) {
    if (auto it = pools->find(ws.id); it != pools->end()) free = std::max<std::int64_t>(0, it->second.slots - ws.running);
  }
  std::vector<std::int64_t> ends;
  for (const LiveRun& r : ws.runs) {
    if (!r.estimated_runtime_seconds) continue;
    const auto end = r.started_at_us + static_cast<std::int64_t>(*r.estimated_runtime_seconds * 1e6);
    ends.push_back(std::max(end, now_us));
  }
  std::sort(ends.begin(), ends.end());
  std::vector<std::optional<std::int64_t>> out;
  for (const LiveQueued& q : ws.queued) {
    if (q.estimated_start_us) {
      // The platform's own estimate; one already past means "any moment now".
      out.push_back(std::max(*q.estimated_start_us, now_us));
    } else if (q.position <= free) {
      out.push_back(now_us);
    } else if (static_cast<std::size_t>(q.position - free) <= ends.size()) {
      out.push_back(ends[static_cast<std::size_t>(q.position - free) - 1]);
    } else {
      out.push_back(std::nullopt);
    }
  }
  return out;
}

ordered_json SystemLoad(const PoolLoad* pool) {
  ordered_json load;
  auto percent = [](std::optional<double> ratio) {
    return ratio ? ordered_json(std::round(*ratio * 1000) / 10) : ordered_json(nullptr);
  };
  load["cpu"] = pool != nullptr ? percent(pool->cpu_ratio) : ordered_json(nullptr);
  load["memory"] = pool != nullptr ? percent(pool->memory_ratio) : ordered_json(nullptr);
  load["workers"] = {{"total", pool != nullptr ? pool->total : 0},
                     {"busy", pool != nullptr ? pool->busy : 0},
                     {"idle", pool != nullptr ? pool->idle : 0}};
  return load;
}

// The realtime object of the API (docs/api/realtime.schema.json). With key set,
// also the change key: the same object without what moves with the clock alone
// (elapsed and wait times, the sample time, estimates derived from them), so a
// subscriber is sent a message only when something happened.
std::string Render(const LiveWorkspace& ws, const PoolLoads* pools, bool platform, std::int64_t sampled_us,
                   std::string* key) {
  ordered_json j, k;
  j["workspaceId"] = ws.id;
  j["workspaceName"] = ws.name;
  j["currentlyRunning"] = ws.running;
  j["queueDepth"] = ws.queue_depth;
  j["avgQueueWaitTime"] = Round2(ws.queue_wait_avg_seconds);
  ordered_json runs = ordered_json::array(), krun = ordered_json::array();
  for (const LiveRun& r : ws.runs) {
    ordered_json e;
    e["runId"] = r.run_id;
    e["agentId"] = Text(r.agent_id);
    e["agentName"] = Text(r.agent_name);
    if (!r.user_id.empty()) e["userId"] = r.user_id;
    e["startedAt"] = FormatRfc3339Millis(r.started_at_us);
    e["elapsedTime"] = Round2(r.elapsed_seconds);
    e["estimatedRuntime"] = r.estimated_runtime_seconds ? ordered_json(Round2(*r.estimated_runtime_seconds)) : nullptr;
    e["estimatedCompletion"] =
        r.estimated_runtime_seconds
            ? Time(r.started_at_us + static_cast<std::int64_t>(*r.estimated_runtime_seconds * 1e6))
            : ordered_json(nullptr);
    e["overdue"] = r.overdue;
    runs.push_back(std::move(e));
    krun.push_back({r.run_id, r.agent_name, r.user_id, r.started_at_us,
                    r.estimated_runtime_seconds.value_or(-1), r.overdue});
  }
  const auto starts = EstimateStarts(ws, pools, sampled_us);
  ordered_json queued = ordered_json::array(), kqueue = ordered_json::array();
  for (std::size_t i = 0; i < ws.queued.size(); ++i) {
    const LiveQueued& q = ws.queued[i];
    ordered_json e;
    e["queueId"] = q.queue_id;
    e["agentId"] = Text(q.agent_id);
    e["agentName"] = Text(q.agent_name);
    e["priority"] = q.priority;
    e["queuedAt"] = Time(q.queued_at_us);
    e["position"] = q.position;
    e["waitTime"] = Round2(q.wait_seconds);
    e["estimatedStartTime"] = Time(starts[i]);
    queued.push_back(std::move(e));
    kqueue.push_back({q.queue_id, q.agent_name, q.priority, q.queued_at_us.value_or(-1), q.position,
                      q.estimated_start_us.value_or(-1)});
  }
  j["executionsInProgress"] = std::move(runs);
  j["queuedExecutions"] = std::move(queued);
  j["truncated"] = {{"executionsInProgress", static_cast<std::int64_t>(ws.runs.size()) < ws.running},
                    {"queuedExecutions", static_cast<std::int64_t>(ws.queued.size()) < ws.queue_depth}};
  j["systemLoad"] = SystemLoad(PoolOf(pools, ws.id, platform));
  j["updatedAt"] = FormatRfc3339Millis(sampled_us);
  if (key != nullptr) {
    k = {ws.name, ws.running, ws.queue_depth, std::move(krun), std::move(kqueue), j["systemLoad"]};
    *key = k.dump();
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

LiveHub::LiveHub(LiveHubOptions options, const Clock& clock, Logger& logger, const SteadyClock& steady_clock)
    : options_(options), clock_(clock), steady_clock_(steady_clock), logger_(logger) {}

LiveHub::~LiveHub() { Stop(); }

void LiveHub::Start() {
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void LiveHub::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LiveHub::PublishView(std::shared_ptr<const LiveView> view) {
  {
    std::lock_guard lock(mu_);
    view_ = std::move(view);
    ++version_;
  }
  cv_.notify_all();
}

void LiveHub::PublishPools(std::shared_ptr<const PoolLoads> pools) {
  {
    std::lock_guard lock(mu_);
    pools_ = std::move(pools);
    ++version_;
  }
  cv_.notify_all();
}

bool LiveHub::has_view() const {
  std::lock_guard lock(mu_);
  return view_ != nullptr;
}

std::string LiveHub::WorkspacesJson(const LiveScope& scope) const {
  std::shared_ptr<const LiveView> view;
  {
    std::lock_guard lock(mu_);
    view = view_;
  }
  std::vector<const LiveWorkspace*> visible;
  if (view) {
    for (const auto& [id, ws] : view->workspaces) {
      if (scope.Sees(id)) visible.push_back(&ws);
    }
  }
  std::sort(visible.begin(), visible.end(), [](const LiveWorkspace* a, const LiveWorkspace* b) {
    return std::tie(a->name, a->id) < std::tie(b->name, b->id);
  });
  ordered_json list = ordered_json::array();
  for (const LiveWorkspace* ws : visible) {
    list.push_back({{"id", ws->id}, {"name", ws->name}, {"currentlyRunning", ws->running},
                    {"queueDepth", ws->queue_depth}});
  }
  ordered_json j;
  j["workspaces"] = std::move(list);
  j["updatedAt"] = view ? ordered_json(FormatRfc3339Millis(view->sampled_at_us)) : ordered_json(nullptr);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool LiveHub::RealtimeJson(const std::string& workspace, bool platform, std::string* out) const {
  std::shared_ptr<const LiveView> view;
  std::shared_ptr<const PoolLoads> pools;
  {
    std::lock_guard lock(mu_);
    view = view_;
    pools = pools_;
  }
  if (!view) return false;
  auto it = view->workspaces.find(workspace);
  if (it == view->workspaces.end()) return false;
  *out = Render(it->second, pools.get(), platform, view->sampled_at_us, nullptr);
  return true;
}

int LiveHub::Subscribe(const std::string& workspace, bool platform, HttpResponse* reject,
                       std::shared_ptr<void>* state) {
  std::lock_guard lock(mu_);
  if (static_cast<int>(subs_.size()) + reserved_ >= options_.max_clients) {
    reject->body = "too many live view subscribers (--api.max-clients)\n";
    reject->headers.emplace_back("Retry-After", "5");
    return 503;
  }
  ++reserved_;
  auto sub = std::make_shared<Subscription>();
  sub->workspace = workspace;
  sub->platform = platform;
  *state = sub;
  return 0;
}

void LiveHub::Ready(const std::shared_ptr<WebSocketPeer>& peer) {
  auto sub = std::static_pointer_cast<Subscription>(peer->state());
  {
    std::lock_guard lock(mu_);
    --reserved_;
    subs_.emplace(peer, std::move(sub));
  }
  cv_.notify_all();  // its first message goes out now
}

void LiveHub::Closed(const std::shared_ptr<WebSocketPeer>& peer) {
  std::lock_guard lock(mu_);
  if (subs_.erase(peer) == 0 && peer->state() != nullptr) --reserved_;  // handshake never finished
}

std::size_t LiveHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

std::uint64_t LiveHub::messages_sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

std::uint64_t LiveHub::subscribers_dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void LiveHub::Run() {
  std::unique_lock lock(mu_);
  std::uint64_t seen_version = 0;
  std::size_t seen_subs = 0;
  auto next_heartbeat = clock_.Now() + options_.heartbeat;
  // Retries for subscribers that were behind, and heartbeats, on a short tick;
  // updates as soon as a collector publishes or someone subscribes.
  constexpr auto kTick = std::chrono::milliseconds(250);
  while (!stopping_) {
    steady_clock_.WaitUntil(cv_, lock, steady_clock_.Now() + kTick,
                            [&] { return stopping_ || version_ != seen_version || subs_.size() != seen_subs; });
    if (stopping_) return;
    seen_version = version_;
    seen_subs = subs_.size();
    auto view = view_;
    auto pools = pools_;
    std::vector<std::pair<std::shared_ptr<WebSocketPeer>, std::shared_ptr<Subscription>>> targets(subs_.begin(),
                                                                                                  subs_.end());
    const auto now = clock_.Now();
    const bool heartbeat = now >= next_heartbeat;
    if (heartbeat) next_heartbeat = now + options_.heartbeat;
    lock.unlock();

    // Each workspace and variant rendered once per round, whoever subscribes.
    std::map<std::pair<std::string, bool>, std::pair<std::string, std::string>> rendered;  // -> (message, key)
    std::uint64_t sent = 0, dropped = 0;
    std::vector<std::shared_ptr<WebSocketPeer>> stalled;
    std::string heartbeat_message;  // the same for every subscriber: rendered once a round
    if (heartbeat) {
      ordered_json hb;
      hb["event"] = "heartbeat";
      hb["data"]["updatedAt"] = view ? ordered_json(FormatRfc3339Millis(view->sampled_at_us)) : ordered_json(nullptr);
      hb["data"]["serverTime"] = FormatRfc3339Millis(ToUnixMicros(now));
      heartbeat_message = hb.dump();
    }
    for (auto& [peer, sub] : targets) {
      if (view) {
        auto ws = view->workspaces.find(sub->workspace);
        if (ws != view->workspaces.end()) {
          auto [it, added] = rendered.try_emplace({sub->workspace, sub->platform});
          if (added) {
            std::string key;
            std::string data = Render(ws->second, pools.get(), sub->platform, view->sampled_at_us, &key);
            it->second = {"{\"event\":\"execution_update\",\"data\":" + data + "}", std::move(key)};
          }
          if (sub->force || sub->sent_key != it->second.second) {
            if (peer->Send(it->second.first)) {
              sub->sent_key = it->second.second;
              sub->force = false;
              sub->behind_since.reset();
              ++sent;
            } else if (!sub->behind_since) {
              sub->behind_since = now;
            }
          }
        }
      }
      if (heartbeat && peer->Send(heartbeat_message)) ++sent;
      if (sub->behind_since && now - *sub->behind_since > options_.stall_timeout) stalled.push_back(peer);
    }
    for (const auto& peer : stalled) {
      logger_.Log(LogLevel::kWarn, "live view subscriber not keeping up, dropped", {{"remote", peer->remote_addr()}});
      peer->Close();
      ++dropped;
    }
    lock.lock();
    sent_ += sent;
    dropped_ += dropped;
  }
}

}  // namespace aee
