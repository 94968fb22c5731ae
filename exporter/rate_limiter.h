#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "exporter/clock.h"

namespace aee {

/// Per-client token buckets: `rate` requests per second, bursts of `burst`.
class RateLimiter {
 public:
  /// rate <= 0 disables limiting. At most max_clients buckets are kept; when full,
  /// buckets that have refilled completely (idle clients) are dropped first.
  RateLimiter(double rate, int burst, const Clock& clock, size_t max_clients = 10000);

  /// Takes a token for client; when none is left returns false and sets
  /// *retry_after_seconds (>= 1) to when the next token arrives.
  bool Allow(const std::string& client, int* retry_after_seconds);
  bool enabled() const { return rate_ > 0; }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void Refill(Bucket& b, Clock::time_point now) const;

  double rate_;
  double burst_;
  const Clock& clock_;
  size_t max_clients_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace aee
