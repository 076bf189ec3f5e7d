#include "core/ids.h"

#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace herald::core {
namespace {

// Every id here may be a secret a client holds (the connection token is the bearer
// credential of the transport requests; a lease token authorises a worker's reports),
// so the bytes come from OpenSSL's CSPRNG, never from a seeded PRNG whose raw outputs
// we hand out: an attack run recovered mt19937_64's state from 88 negotiate answers and
// predicted the next client's token. RAND_bytes costs a lock and a DRBG call, so each
// thread takes 4 KB at a time and serves ids from that (256 ids per refill); the bytes
// are used once and then overwritten, never handed out twice.
constexpr std::size_t kPoolBytes = 4096;

struct Pool {
  std::array<unsigned char, kPoolBytes> bytes{};
  std::size_t used = kPoolBytes;  // empty until the first draw
};

template <std::size_t N>
std::array<unsigned char, N> randomBytes() {
  static_assert(N <= kPoolBytes);
  thread_local Pool pool;
  if (kPoolBytes - pool.used < N) {
    if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1) {
      // No entropy source: refuse to hand out a guessable id.
      throw std::runtime_error("the system's random generator failed (RAND_bytes)");
    }
    pool.used = 0;
  }
  std::array<unsigned char, N> out{};
  std::memcpy(out.data(), pool.bytes.data() + pool.used, N);
  std::memset(pool.bytes.data() + pool.used, 0, N);
  pool.used += N;
  return out;
}

}  // namespace

std::string base64UrlEncode(const unsigned char* data, std::size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 2 < size; i += 3) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (size - i == 1) {
    unsigned v = data[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (size - i == 2) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::string newConnectionId() {
  auto bytes = randomBytes<16>();
  return base64UrlEncode(bytes.data(), bytes.size());
}

std::string newLeaseToken() {
  auto b = randomBytes<16>();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (unsigned char c : b) {
    out += kHex[c >> 4];
    out += kHex[c & 0x0F];
  }
  return out;
}

std::string newUuid() {
  auto b = randomBytes<16>();
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char buf[37];
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return std::string(buf, 36);
}

}  // namespace herald::core
