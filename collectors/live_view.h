#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aee {

/// The live view of issue #12: what one realtime cycle saw, per execution, for the
/// JSON API and WebSocket (never for Prometheus: run ids churn). Times are Unix
/// microseconds; durations seconds at sampled_at.

/// One running run.
struct LiveRun {
  std::string run_id;
  std::string agent_id;    // "" when NULL
  std::string agent_name;  // "" when unknown
  std::string user_id;     // "" unless --api.user-id asks for it (then plain or HMAC)
  std::int64_t started_at_us = 0;
  double elapsed_seconds = 0;
  std::optional<double> estimated_runtime_seconds;  // > 0 when set
  bool overdue = false;
};

/// One waiting queue entry, in dequeue order.
struct LiveQueued {
  std::string queue_id;
  std::string agent_id;
  std::string agent_name;
  int priority = 0;
  std::optional<std::int64_t> queued_at_us;  // NULL or infinite in the table: unknown
  int position = 0;  // 1-based
  double wait_seconds = 0;
  std::optional<std::int64_t> estimated_start_us;  // the platform's own estimate, when set
};

/// One workspace: true totals and the capped lists.
struct LiveWorkspace {
  std::string id;
  std::string name;
  std::int64_t running = 0;
  std::int64_t queue_depth = 0;
  double queue_wait_avg_seconds = 0;
  std::vector<LiveRun> runs;       // longest-running first, at most the cap
  std::vector<LiveQueued> queued;  // dequeue order, at most the cap
};

/// Everything one realtime cycle saw.
struct LiveView {
  std::int64_t sampled_at_us = 0;
  std::map<std::string, LiveWorkspace> workspaces;  // by id
};

/// Load of one worker pool ("" = the shared pool), from the workers collector.
struct PoolLoad {
  std::int64_t total = 0;  // workers not offline
  std::int64_t busy = 0;
  std::int64_t idle = 0;
  std::int64_t slots = 0;  // run slots of the workers not offline
  std::optional<double> cpu_ratio;     // mean 0-1 over live workers reporting it
  std::optional<double> memory_ratio;  // mean 0-1
};
using PoolLoads = std::map<std::string, PoolLoad>;

/// Where the realtime and workers collectors hand their live figures (the
/// exporter's live hub). Called on the collector's thread at the end of a
/// successful cycle; must return quickly.
using LiveViewSink = std::function<void(std::shared_ptr<const LiveView>)>;
using PoolLoadSink = std::function<void(std::shared_ptr<const PoolLoads>)>;

}  // namespace aee
