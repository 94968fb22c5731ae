#include "exporter/rate_limiter.h"

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
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_clients_) {
      for (auto b = buckets_.begin(); b != buckets_.end();) {
        Refill(b->second, now);
        b = b->second.tokens >= burst_ ? buckets_.erase(b) : std::next(b);
      }
      // Still full of active clients: the newcomer shares the oldest entry's fate
      // rather than growing memory without bound.
      if (buckets_.size() >= max_clients_) buckets_.erase(buckets_.begin());
    }
    it = buckets_.emplace(client, Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
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
