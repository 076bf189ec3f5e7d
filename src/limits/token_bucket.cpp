#include "limits/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace herald::limits {

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_) return;  // a caller's clock read raced another's: no time passed
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  last_ = now;
}

bool TokenBucket::tryTake(Clock::time_point now) {
  refill(now);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

TokenBucket::Clock::duration TokenBucket::waitFor(Clock::time_point now) {
  refill(now);
  if (tokens_ >= 1.0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>((1.0 - tokens_) / rate_));
}

bool TokenBucket::full(Clock::time_point now) const {
  if (now <= last_) return tokens_ >= burst_;
  return tokens_ + std::chrono::duration<double>(now - last_).count() * rate_ >= burst_;
}

long long retryAfterSeconds(TokenBucket::Clock::duration wait) {
  const double s = std::chrono::duration<double>(wait).count();
  return std::max(1LL, static_cast<long long>(std::ceil(s)));
}

}  // namespace herald::limits
