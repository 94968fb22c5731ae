#pragma once

/// Live mode: arrivals, queue, dispatch to workers, terminal updates and heartbeats,
/// written through several connections as a real platform would.

#include <csignal>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "tools/sim/platform.h"
#include "tools/sim/scenario.h"

namespace aee::sim {

/// Source of "now" and of waiting; live mode paces itself against it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Micros Now() = 0;
  virtual void SleepUntil(Micros t) = 0;
};

/// The wall clock.
class SystemClock : public Clock {
 public:
  Micros Now() override;
  void SleepUntil(Micros t) override;
};

/// The knobs of a live run (the flags of live mode, tools/sim/config.h).
struct LiveLoad {
  Micros duration = 0;  // 0: until a stop signal
  std::vector<ScenarioSpec> scenarios;
  std::string control_file;
  int writers = 4;
  Micros tick = 50'000;
  double late_commit_fraction = 0.02;
  Micros late_commit_delay = 3 * kSecond;
  Micros stats_interval = 10 * kSecond;
};

struct LiveOptions : LiveLoad {
  std::string db_url;
  std::string db_schema;
};

/// Totals of one live run; the database agrees with them once RunLive returns.
struct LiveSummary {
  uint64_t arrived = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  uint64_t cancelled = 0;
  uint64_t running = 0;  // still running at exit (stuck ones included)
  uint64_t queued = 0;   // still waiting at exit
  uint64_t model_calls = 0;
  uint64_t late_commits = 0;
  double seconds = 0;
};

/// Runs until options.duration has passed or one of `stop_signals` (blocked by the
/// caller in every thread) arrives. Throws on database errors.
LiveSummary RunLive(const Platform& platform, const LiveOptions& options, Clock& clock,
                    const sigset_t& stop_signals, std::ostream& log);

/// "summary: ..." line parsed by tests and scripts.
std::string FormatSummary(const LiveSummary& s);

}  // namespace aee::sim
