#pragma once

#include <chrono>

#include "core/clock.h"

namespace aee {

/// A clock that only moves when told to (tests).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(time_point start) : now_(start) {}
  time_point Now() const override { return now_; }
  void Set(time_point t) { now_ = t; }
  void Advance(std::chrono::microseconds d) { now_ += d; }

 private:
  time_point now_;
};

}  // namespace aee
