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

/// Seconds since the Unix epoch as a double (the Prometheus timestamp unit).
inline double ToUnixSeconds(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace aee
