#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <mutex>
#include <vector>

#include "core/clock.h"

namespace aee {

/// A clock that only moves when told to (tests).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(time_point start) : now_(start) {}
  time_point Now() const override { return now_.load(); }
  void Set(time_point t) { now_.store(t); }
  /// Not atomic with other writers: one thread moves the clock, any may read it.
  void Advance(std::chrono::microseconds d) { now_.store(now_.load() + d); }

 private:
  std::atomic<time_point> now_;
};

/// A steady clock that moves by step each time it is read, for code that only
/// measures time (budgets): how much fits in a budget then does not depend on the
/// machine's speed. It never blocks: a wait or sleep jumps it to the deadline.
/// One thread at a time.
class TickingSteadyClock final : public SteadyClock {
 public:
  using SteadyClock::WaitUntil;
  explicit TickingSteadyClock(std::chrono::milliseconds step) : step_(step) {}
  time_point Now() const override {
    const time_point now = now_;
    now_ += step_;
    return now;
  }
  void WaitUntil(std::condition_variable&, std::unique_lock<std::mutex>&, time_point deadline) const override {
    now_ = std::max(now_, deadline);
  }
  void SleepUntil(time_point deadline) const override { now_ = std::max(now_, deadline); }

 private:
  std::chrono::milliseconds step_;
  mutable time_point now_{};
};

/// A monotonic clock that only moves when a test calls Advance(), so code that
/// waits for intervals, backoffs and gaps is driven without sleeping.
///
/// A thread that waits through WaitUntil() registers its condition variable and
/// mutex; Advance() notifies every registered waiter while holding that waiter's
/// mutex. The waiter holds its mutex from its own check of the time until the
/// condition variable releases it, so a wake-up is never lost: either the waiter
/// registered before Advance() and is notified once it waits, or it registers
/// after and sees the new time. The condition variable's own notifications wake
/// it too (Stop(), Wake()). Every waiter is woken on every Advance(), due or not,
/// which exercises the callers' handling of early returns.
///
/// The Wait* helpers let a test wait, with a real-time limit for failure, until a
/// thread has reached a wait; they never stand for the time the code measures.
/// Advance() must not race with the destruction of the objects a waiter uses.
/// (A thread that Advance() wakes may itself call Advance(), as a cycle that "takes" time does.)
class FakeSteadyClock final : public SteadyClock {
 public:
  using SteadyClock::WaitUntil;
  explicit FakeSteadyClock(time_point start = time_point(std::chrono::hours(1))) : now_(start) {}

  time_point Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                 time_point deadline) const override {
    std::list<Waiter>::iterator self;
    {
      std::lock_guard own(mu_);
      if (now_ >= deadline) return;
      self = waiters_.insert(waiters_.end(), Waiter{&cv, lock.mutex(), deadline});
      ++waits_begun_;
      changed_.notify_all();
    }
    cv.wait(lock);  // releases lock atomically: Advance() can notify only from here on
    std::lock_guard own(mu_);
    waiters_.erase(self);
    changed_.notify_all();
  }

  void SleepUntil(time_point deadline) const override {
    std::mutex mu;
    std::condition_variable cv;
    std::unique_lock lock(mu);
    while (Now() < deadline) WaitUntil(cv, lock, deadline);
  }

  /// Moves time forward by d and wakes every waiter; returns how many it woke.
  std::size_t Advance(duration d) {
    std::vector<Waiter> woken;
    {
      std::lock_guard own(mu_);
      now_ += d;
      woken.assign(waiters_.begin(), waiters_.end());
    }
    // Taken apart from mu_: a waiter holds its own mutex when it takes mu_.
    for (const Waiter& w : woken) {
      std::lock_guard lock(*w.mutex);
      w.cv->notify_all();
    }
    return woken.size();
  }

  /// Advances by d, then blocks until every thread it woke has begun waiting again:
  /// for time short of their deadlines, proof that none acted early. False after
  /// real_limit (a woken thread that did not wait again).
  bool AdvanceAndAwaitWaits(duration d, std::chrono::milliseconds real_limit = kRealLimit) {
    const std::uint64_t begun = WaitsBegun();
    const std::size_t woken = Advance(d);
    return WaitForWaitsBegun(begun + woken, real_limit);
  }

  /// Waits begun since construction (a thread that went back to waiting counts again).
  std::uint64_t WaitsBegun() const {
    std::lock_guard own(mu_);
    return waits_begun_;
  }
  /// Blocks until at least n waits have begun in all; false after real_limit.
  bool WaitForWaitsBegun(std::uint64_t n, std::chrono::milliseconds real_limit = kRealLimit) const {
    std::unique_lock own(mu_);
    return changed_.wait_for(own, real_limit, [&] { return waits_begun_ >= n; });
  }
  /// Blocks until some thread waits for exactly Now() + in; false after real_limit.
  bool WaitForDeadlineIn(duration in, std::chrono::milliseconds real_limit = kRealLimit) const {
    std::unique_lock own(mu_);
    return changed_.wait_for(own, real_limit, [&] {
      return std::any_of(waiters_.begin(), waiters_.end(), [&](const Waiter& w) { return w.deadline == now_ + in; });
    });
  }

 private:
  static constexpr std::chrono::milliseconds kRealLimit{10000};
  struct Waiter {
    std::condition_variable* cv;
    std::mutex* mutex;
    time_point deadline;
  };

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // a waiter came or went
  time_point now_;                           // guarded by mu_
  mutable std::list<Waiter> waiters_;        // guarded by mu_
  mutable std::uint64_t waits_begun_ = 0;    // guarded by mu_
};

}  // namespace aee
