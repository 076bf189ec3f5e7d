#pragma once
// A token bucket: `rate` tokens a second, at most `burst` saved up. Each admitted
// request takes one token. Time is passed in (steady clock), so tests need no sleeps.
//
// Thread safety: none; the owner serialises (one connection's handler, a limiter shard).
#include <chrono>

namespace herald::limits {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // rate > 0 and burst >= 1 (config::finalize refuses anything else). A new bucket is
  // full: a client's first burst is admitted.
  TokenBucket(double rate, double burst, Clock::time_point now)
      : rate_(rate), burst_(burst), tokens_(burst), last_(now) {}

  // Takes a token if there is one.
  bool tryTake(Clock::time_point now);
  // How long until a token is available (zero when one is).
  Clock::duration waitFor(Clock::time_point now);
  // Whether the bucket has refilled completely: it is then the same as a new one, so a
  // registry may forget it.
  bool full(Clock::time_point now) const;

 private:
  void refill(Clock::time_point now);

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

// Whole seconds to tell a refused client (Retry-After): at least 1.
long long retryAfterSeconds(TokenBucket::Clock::duration wait);

}  // namespace herald::limits
