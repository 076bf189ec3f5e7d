#pragma once
// A token bucket per key (a client's IP or user): the negotiate and REST rate limits.
//
// Memory is bounded: a bucket that has refilled completely is the same as no bucket, so
// each shard forgets such buckets in a sweep at most once a second (when it is next
// used). An entry therefore lives at most burst/rate seconds after its key's last request,
// and the registry holds only keys seen in that window.
//
// Thread safety: all members; keys are spread over shards, each with its own mutex, held
// only for one lookup (or one sweep of that shard).
#include <array>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "limits/token_bucket.h"

namespace herald::limits {

struct RateDecision {
  bool allowed = true;
  // When refused: how long until the key's next token.
  TokenBucket::Clock::duration retryAfter{};
};

class RateLimiter {
 public:
  using Clock = TokenBucket::Clock;

  // `rate` per second with `burst`; rate 0 admits everything (the limit is off).
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst) {}

  bool enabled() const { return rate_ > 0; }
  RateDecision take(const std::string& key, Clock::time_point now = Clock::now());
  // Keys with a bucket (tests: the registry forgets idle keys).
  std::size_t size() const;

 private:
  static constexpr std::size_t kShards = 16;
  static constexpr auto kSweepInterval = std::chrono::seconds(1);
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, TokenBucket> buckets;
    Clock::time_point lastSweep{};
  };

  double rate_;
  double burst_;
  std::array<Shard, kShards> shards_;
};

}  // namespace herald::limits
