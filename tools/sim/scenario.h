#pragma once

/// Scenarios (burst, drop, failure-surge, backlog, stuck-runs, slow-model), how they are
/// written on the command line and in the control file, and which ones are active.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/sim/platform.h"

namespace aee::sim {

enum class ScenarioKind { kBurst, kDrop, kFailureSurge, kBacklog, kStuckRuns, kSlowModel };

const char* ScenarioName(ScenarioKind kind);
/// The factor a scenario uses when none is given.
double DefaultFactor(ScenarioKind kind);

struct ScenarioSpec {
  ScenarioKind kind = ScenarioKind::kBurst;
  Micros start = 0;     // offset: from live start (flag) or from when it was read (file)
  Micros duration = 60 * kSecond;
  double factor = 0;
};

/// Parses "name:start=30s,duration=60s,factor=5" or "name start=30s duration=60s";
/// on failure returns nullopt and sets `error`.
std::optional<ScenarioSpec> ParseScenario(std::string_view text, std::string* error);

/// Parses "250ms", "60s", "5m", "1h", "1.5s" or plain seconds.
std::optional<Micros> ParseDuration(std::string_view text);

/// One scheduled scenario with absolute simulated times.
struct ScenarioWindow {
  ScenarioSpec spec;
  Micros begin = 0;
  Micros end = 0;
  bool started = false;
  bool ended = false;
};

/// The scenarios of one live run and what they change at a given moment.
class ScenarioSet {
 public:
  void Add(const ScenarioSpec& spec, Micros base);
  std::vector<ScenarioWindow>& windows() { return windows_; }

  double RateFactor(Micros t) const;
  double FailureFloor(Micros t) const;
  double ModelLatencyFactor(Micros t) const;
  /// Fraction of workers lost (0 when no backlog is active).
  double WorkersLost(Micros t) const;
  /// Probability that a run dispatched now never finishes.
  double StuckProbability(Micros t) const;

 private:
  bool Active(const ScenarioWindow& w, Micros t) const { return t >= w.begin && t < w.end; }
  /// The factors of the windows of kind a or b active at t: multiplied (from 1), or the
  /// largest (from 0).
  enum class Fold { kProduct, kLargest };
  double Combine(Micros t, Fold fold, ScenarioKind a, ScenarioKind b) const;
  double Combine(Micros t, Fold fold, ScenarioKind kind) const { return Combine(t, fold, kind, kind); }
  std::vector<ScenarioWindow> windows_;
};

}  // namespace aee::sim
