#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

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

/// Source of monotonic time (durations, deadlines, budgets) and the one way code
/// waits for it to pass, injected like Clock so tests move time by hand instead
/// of sleeping. Every wait for a deadline goes through the clock that defines
/// the deadline: a fake clock can then wake its waiters when it is advanced.
class SteadyClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;
  virtual ~SteadyClock() = default;
  virtual time_point Now() const = 0;
  /// Blocks on cv, releasing lock (held by the caller) while it waits, until cv is
  /// notified or Now() reaches deadline. Like std::condition_variable::wait_until
  /// it may return early (spuriously): callers re-check their state and the time.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                         time_point deadline) const = 0;
  /// Waits as above until stop() holds or deadline passes; returns stop().
  template <class Predicate>
  bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline,
                 Predicate stop) const {
    while (!stop()) {
      if (Now() >= deadline) return stop();
      WaitUntil(cv, lock, deadline);
    }
    return true;
  }
  /// Blocks the calling thread until Now() reaches deadline (nothing wakes it early).
  virtual void SleepUntil(time_point deadline) const = 0;
  void SleepFor(duration d) const { SleepUntil(Now() + d); }
};

/// The real monotonic clock: std::chrono::steady_clock and the standard waits.
class RealSteadyClock final : public SteadyClock {
 public:
  using SteadyClock::WaitUntil;
  time_point Now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 time_point deadline) const override {
    cv.wait_until(lock, deadline);
  }
  void SleepUntil(time_point deadline) const override { std::this_thread::sleep_until(deadline); }
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
