// The token bucket and the keyed rate limiter, on a time the test moves (no sleeps).
#include <gtest/gtest.h>

#include "limits/rate_limiter.h"
#include "limits/token_bucket.h"

using namespace herald::limits;
using namespace std::chrono_literals;

namespace {
const TokenBucket::Clock::time_point t0 = TokenBucket::Clock::time_point(1000s);
}

TEST(TokenBucket, AdmitsTheBurstThenTheRate) {
  TokenBucket b(10, 5, t0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.tryTake(t0)) << i;
  EXPECT_FALSE(b.tryTake(t0));
  EXPECT_EQ(b.waitFor(t0), 100ms);  // one token at 10 a second
  EXPECT_FALSE(b.tryTake(t0 + 99ms));
  EXPECT_TRUE(b.tryTake(t0 + 150ms));
  EXPECT_FALSE(b.tryTake(t0 + 150ms));
  // A second later: ten more tokens, capped at the burst of five.
  int taken = 0;
  while (b.tryTake(t0 + 2s)) ++taken;
  EXPECT_EQ(taken, 5);
}

TEST(TokenBucket, OverALongRunAdmitsExactlyTheRate) {
  TokenBucket b(100, 1, t0);
  int admitted = 0;
  // 10,000 attempts a second for 10 s, one every 100 us.
  for (int i = 0; i < 100'000; ++i) admitted += b.tryTake(t0 + i * 100us) ? 1 : 0;
  EXPECT_NEAR(admitted, 1000, 2);
}

TEST(TokenBucket, IsFullAgainAfterBurstOverRateAndTimeNeverRunsBackwards) {
  TokenBucket b(2, 4, t0);
  EXPECT_TRUE(b.full(t0));
  EXPECT_TRUE(b.tryTake(t0));
  EXPECT_FALSE(b.full(t0 + 400ms));
  EXPECT_TRUE(b.full(t0 + 600ms));
  // An earlier time (two threads' clock reads crossing) adds nothing and breaks nothing.
  EXPECT_TRUE(b.tryTake(t0 + 600ms));
  EXPECT_TRUE(b.tryTake(t0 + 100ms));
}

TEST(TokenBucket, RetryAfterIsWholeSecondsAndAtLeastOne) {
  EXPECT_EQ(retryAfterSeconds(0s), 1);
  EXPECT_EQ(retryAfterSeconds(10ms), 1);
  EXPECT_EQ(retryAfterSeconds(1001ms), 2);
}

TEST(RateLimiter, KeysHaveTheirOwnBuckets) {
  RateLimiter limiter(1, 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.take("a", t0).allowed);
  auto refused = limiter.take("a", t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retryAfter, 1s);
  // Another client is not affected by the first one's use.
  EXPECT_TRUE(limiter.take("b", t0).allowed);
  EXPECT_TRUE(limiter.take("a", t0 + 1s).allowed);
}

TEST(RateLimiter, ForgetsKeysOnceTheyRefilledSoMemoryIsBounded) {
  RateLimiter limiter(10, 20);  // refills completely in 2 s
  for (int i = 0; i < 10'000; ++i) limiter.take("10.0." + std::to_string(i), t0);
  EXPECT_EQ(limiter.size(), 10'000u);
  // 3 s later every bucket is full again: the next use of each shard sweeps them (1,000
  // keys touch all 16 shards).
  for (int i = 0; i < 1000; ++i) limiter.take("late-" + std::to_string(i), t0 + 3s);
  EXPECT_EQ(limiter.size(), 1000u);
  // A key still draining is kept (forgetting it would hand it a fresh burst).
  for (int i = 0; i < 20; ++i) limiter.take("busy", t0 + 3s);
  for (int i = 0; i < 1000; ++i) limiter.take("later-" + std::to_string(i), t0 + 4s + 500ms);
  int admitted = 0;
  while (limiter.take("busy", t0 + 4s + 500ms).allowed) ++admitted;
  EXPECT_EQ(admitted, 15);  // 1.5 s of refill, not a fresh burst of 20
}

TEST(RateLimiter, ZeroRateIsOff) {
  RateLimiter limiter(0, 1);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.take("a", t0).allowed);
  EXPECT_EQ(limiter.size(), 0u);
}
