#include "core/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace aee {

RateLimiter::RateLimiter(double rate, int burst, const Clock& clock, size_t max_clients)
    : rate_(rate), burst_(std::max(1, burst)), clock_(clock), max_clients_(std::max<size_t>(1, max_clients)) {}

void RateLimiter::Refill(Bucket& b, Clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - b.updated).count();
  if (elapsed > 0) b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
  b.updated = std::max(b.updated, now);  // a clock stepping back refills nothing
}

bool RateLimiter::Allow(const std::string& client, int* retry_after_seconds) {
  if (rate_ <= 0) return true;
  const Clock::time_point now = clock_.Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(client);
  if (it == index_.end()) {
    if (lru_.size() >= max_clients_) {
      // Bounded memory: the client not seen for longest goes. Unless max_clients
      // clients arrived since it was last seen, its bucket has refilled anyway.
      index_.erase(lru_.back().client);
      lru_.pop_back();
    }
    lru_.push_front(Entry{client, Bucket{burst_, now}});
    it = index_.emplace(lru_.front().client, lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second);  // iterators stay valid
  }
  Bucket& b = it->second->bucket;
  Refill(b, now);
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return true;
  }
  // Clamped before the cast: a tiny rate would overflow int (a day is plenty).
  *retry_after_seconds = static_cast<int>(std::clamp(std::ceil((1 - b.tokens) / rate_), 1.0, 86400.0));
  return false;
}

}  // namespace aee
