#include "limits/rate_limiter.h"

#include <functional>

namespace herald::limits {

RateDecision RateLimiter::take(const std::string& key, Clock::time_point now) {
  if (!enabled()) return {};
  auto& shard = shards_[std::hash<std::string>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  if (now - shard.lastSweep >= kSweepInterval) {
    shard.lastSweep = now;
    std::erase_if(shard.buckets, [now](auto& entry) { return entry.second.full(now); });
  }
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end())
    it = shard.buckets.emplace(key, TokenBucket(rate_, burst_, now)).first;
  if (it->second.tryTake(now)) return {};
  return {false, it->second.waitFor(now)};
}

std::size_t RateLimiter::size() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.buckets.size();
  }
  return n;
}

}  // namespace herald::limits
