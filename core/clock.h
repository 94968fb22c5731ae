#pragma once

#include <chrono>

namespace aee {

/// Source of wall-clock time, injected so tests control "now" exactly.
class Clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point Now() const = 0;
};

/// The real wall clock.
class SystemClock final : public Clock {
 public:
  time_point Now() const override { return std::chrono::system_clock::now(); }
};

/// Source of monotonic time (durations, deadlines, budgets), injected like Clock so
/// tests move it by hand instead of sleeping.
class SteadyClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~SteadyClock() = default;
  virtual time_point Now() const = 0;
};

/// The real monotonic clock.
class RealSteadyClock final : public SteadyClock {
 public:
  time_point Now() const override { return std::chrono::steady_clock::now(); }
  /// One shared instance: the default wherever no clock is injected.
  static const RealSteadyClock& Instance() {
    static const RealSteadyClock clock;
    return clock;
  }
};

/// Seconds since the Unix epoch as a double (the Prometheus timestamp unit).
inline double ToUnixSeconds(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace aee
