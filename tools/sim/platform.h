#pragma once

/// The simulated platform: workspaces, agents with their own behaviour, workers, and the
/// per-run draws shared by backfill and live mode.

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tools/sim/random.h"

namespace aee::sim {

/// Microseconds since the Unix epoch, UTC. Integer so that latency columns equal the
/// differences of the stored timestamps exactly.
using Micros = int64_t;
inline constexpr Micros kSecond = 1'000'000;

/// 128-bit identifier rendered as a canonical UUID string.
struct Uuid {
  uint64_t hi = 0;
  uint64_t lo = 0;
  std::string Str() const;
  bool operator==(const Uuid&) const = default;
};

/// Random-looking (version 4 layout) UUID fixed by the key.
Uuid KeyedUuid(uint64_t seed, uint64_t domain, uint64_t index);
/// Time-ordered (version 7 layout) UUID: ids of later runs sort later, so primary-key
/// inserts append to the index instead of touching random pages.
Uuid TimeOrderedUuid(Micros t, uint64_t seed, uint64_t domain, uint64_t index);

/// "YYYY-MM-DD HH:MM:SS.ffffff+00", a timestamptz literal.
std::string FormatTimestamp(Micros t);
/// Seconds with microsecond precision, as stored in the *_seconds columns.
std::string FormatSeconds(Micros d);
/// Appending forms of the above, for bulk COPY text (no allocation per field).
void AppendTimestamp(std::string* out, Micros t);
void AppendSeconds(std::string* out, Micros d);
void AppendUuid(std::string* out, const Uuid& u);

struct ModelSpec {
  const char* name;
  double usd_per_1k_prompt;
  double usd_per_1k_completion;
  double base_latency_s;       // time to first token
  double tokens_per_second;    // completion speed
};

/// The model catalogue the simulated agents call.
const std::vector<ModelSpec>& Models();

struct Agent {
  Uuid id;
  int workspace = 0;
  std::string name;
  double weight = 1;           // share of the workspace's arrivals
  double runtime_median_s = 1;
  double runtime_sigma = 0.5;
  double failure_p = 0.03;
  double cancel_p = 0.02;       // cancelled by the user while running
  double patience_median_s = 60;  // a queued run is cancelled after waiting this long
  double mean_model_calls = 2;
  std::array<double, 8> model_mix{};  // cumulative probabilities over Models()
  int max_priority = 2;
};

struct Workspace {
  Uuid id;
  std::string name;
};

struct Worker {
  std::string id;
  int capacity = 4;
};

/// Knobs shared by the platform model (mirrors the relevant flags).
struct PlatformOptions {
  uint64_t seed = 1;
  int workspaces = 3;
  int agents_per_workspace = 5;
  int workers = 8;
  int worker_slots = 4;
  double rate = 1;  // mean finished runs per second (weekly mean in backfill)
  double runtime_scale = 1;
};

enum class Outcome { kCompleted, kFailed, kCancelled };
const char* OutcomeName(Outcome o);

struct ModelCall {
  int model = 0;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double latency_s = 0;
  double cost_usd = 0;
  Micros offset = 0;  // created_at - started_at
};

/// What happens to one run once it starts, drawn up front.
struct RunPlan {
  int priority = 0;
  double estimated_runtime_s = 0;
  Micros runtime = 0;
  Outcome outcome = Outcome::kCompleted;
  Micros patience = 0;  // queued longer than this: cancelled in the queue
  std::vector<ModelCall> calls;
};

/// Live-mode modifiers from the active scenarios.
struct Modifiers {
  double failure_p_floor = 0;  // failure-surge: failure probability at least this
  double model_latency_factor = 1;
};

class Platform {
 public:
  explicit Platform(const PlatformOptions& options);

  const PlatformOptions& options() const { return options_; }
  const std::vector<Workspace>& workspaces() const { return workspaces_; }
  const std::vector<Agent>& agents() const { return agents_; }
  const std::vector<Worker>& workers() const { return workers_; }

  /// Arrival rate multiplier at time t (UTC hour of day, day of week); its mean over a
  /// week is 1, so `rate` stays the weekly mean.
  double Shape(Micros t) const;
  /// Highest value Shape() takes.
  double PeakShape() const { return peak_shape_ / shape_norm_; }
  /// Mean arrivals per second of one agent at shape 1.
  double AgentRate(int agent) const;

  /// Draws the run's fate; `rng` is the run's own stream.
  RunPlan DrawRun(int agent, Rng& rng, const Modifiers& mods) const;

 private:
  double RawShape(Micros t) const;

  PlatformOptions options_;
  std::vector<Workspace> workspaces_;
  std::vector<Agent> agents_;
  std::vector<Worker> workers_;
  double weight_total_ = 0;
  double shape_norm_ = 1;
  double peak_shape_ = 1;
};

}  // namespace aee::sim
