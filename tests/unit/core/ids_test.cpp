#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/ids.h"

using herald::core::newConnectionId;
using herald::core::newLeaseToken;
using herald::core::newUuid;

namespace {

std::vector<unsigned char> base64UrlDecode(const std::string& text) {
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::vector<unsigned char> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    acc = (acc << 6) | static_cast<std::uint32_t>(kAlphabet.find(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>(acc >> bits));
    }
  }
  return out;
}

// mt19937_64's output tempering and its inverse: what an attacker does with 312 outputs.
constexpr std::uint64_t kU = 29, kS = 17, kT = 37, kL = 43;
constexpr std::uint64_t kD = 0x5555555555555555ULL, kB = 0x71D67FFFEDA60000ULL,
                        kC = 0xFFF7EEE000000000ULL, kA = 0xB5026F5AA96619E9ULL;

std::uint64_t temper(std::uint64_t y) {
  y ^= (y >> kU) & kD;
  y ^= (y << kS) & kB;
  y ^= (y << kT) & kC;
  y ^= y >> kL;
  return y;
}

std::uint64_t undoRight(std::uint64_t y, std::uint64_t shift, std::uint64_t mask) {
  std::uint64_t x = y;
  for (int i = 0; i < 64; ++i) x = y ^ ((x >> shift) & mask);
  return x;
}

std::uint64_t undoLeft(std::uint64_t y, std::uint64_t shift, std::uint64_t mask) {
  std::uint64_t x = y;
  for (int i = 0; i < 64; ++i) x = y ^ ((x << shift) & mask);
  return x;
}

std::uint64_t untemper(std::uint64_t y) {
  y = undoRight(y, kL, ~0ULL);
  y = undoLeft(y, kT, kC);
  y = undoLeft(y, kS, kB);
  return undoRight(y, kU, kD);
}

std::uint64_t littleEndian(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int j = 7; j >= 0; --j) v = (v << 8) | p[j];
  return v;
}

}  // namespace

TEST(Ids, ConnectionIdIs22Base64UrlCharactersOf16Bytes) {
  const std::regex shape("^[A-Za-z0-9_-]{22}$");
  for (int i = 0; i < 1000; ++i) {
    const auto id = newConnectionId();
    ASSERT_TRUE(std::regex_match(id, shape)) << id;
    ASSERT_EQ(base64UrlDecode(id).size(), 16U);
  }
}

TEST(Ids, LeaseTokenIs32LowercaseHexDigits) {
  const std::regex shape("^[0-9a-f]{32}$");
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(std::regex_match(newLeaseToken(), shape));
}

TEST(Ids, UuidIsVersion4) {
  const std::regex shape("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(std::regex_match(newUuid(), shape));
}

// Across threads (each has its own pool) and across pool refills, no id repeats.
TEST(Ids, NoRepeatsAcrossThreadsAndRefills) {
  std::mutex mutex;
  std::set<std::string> seen;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<std::string> mine;
      for (int i = 0; i < 5000; ++i) mine.push_back(newConnectionId());
      std::lock_guard lock(mutex);
      seen.insert(mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(seen.size(), 20000U);
}

// Roughly half the bits are set: catches a pool handed out zeroed or stuck.
TEST(Ids, BitsAreBalanced) {
  std::size_t ones = 0, total = 0;
  for (int i = 0; i < 2000; ++i) {
    for (unsigned char b : base64UrlDecode(newConnectionId())) {
      ones += static_cast<std::size_t>(__builtin_popcount(b));
      total += 8;
    }
  }
  const double ratio = static_cast<double>(ones) / static_cast<double>(total);
  EXPECT_GT(ratio, 0.49);
  EXPECT_LT(ratio, 0.51);
}

// The attack from issue 12: ids made of raw mt19937_64 outputs give the generator's state
// away. Take 156 consecutive ids of one thread (312 outputs), rebuild the state, predict the
// next id's first 8 bytes. With a CSPRNG the prediction must fail.
TEST(Ids, NextIdCannotBePredictedFromPreviousOnes) {
  std::vector<std::string> ids;
  std::thread([&] {
    for (int i = 0; i < 157; ++i) ids.push_back(newConnectionId());
  }).join();
  std::vector<std::uint64_t> x;
  for (int i = 0; i < 156; ++i) {
    const auto bytes = base64UrlDecode(ids[static_cast<std::size_t>(i)]);
    x.push_back(untemper(littleEndian(bytes.data())));
    x.push_back(untemper(littleEndian(bytes.data() + 8)));
  }
  // x[312] = x[156] ^ twist(x[0], x[1]), valid for any window of the sequence.
  constexpr std::uint64_t kUpper = ~((1ULL << 31) - 1);
  const std::uint64_t y = (x[0] & kUpper) | (x[1] & ~kUpper);
  const std::uint64_t next = x[156] ^ (y >> 1) ^ ((y & 1U) != 0 ? kA : 0);
  const auto actual = base64UrlDecode(ids.back());
  EXPECT_NE(temper(next), littleEndian(actual.data()))
      << "the next connection id was predicted from the previous 156";
}
