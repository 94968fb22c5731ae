#pragma once

#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"

namespace aee {

/// Per-client token buckets: `rate` requests per second, bursts of `burst`.
class RateLimiter {
 public:
  /// rate <= 0 disables limiting. At most max_clients buckets are kept; when full,
  /// the least recently seen client's bucket is dropped (in O(1)).
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
  struct Entry {
    std::string client;
    Bucket bucket;
  };
  void Refill(Bucket& b, Clock::time_point now) const;

  double rate_;
  double burst_;
  const Clock& clock_;
  size_t max_clients_;
  std::mutex mu_;
  // Most recently seen first. A throttled client that keeps knocking stays near the
  // front, so eviction reaches it only after max_clients other clients.
  std::list<Entry> lru_;
  // Keys view the client strings of lru_'s nodes, which never move.
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace aee
