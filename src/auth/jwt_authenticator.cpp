#include "auth/jwt_authenticator.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <unordered_map>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "core/strings.h"

namespace herald::auth {

namespace {

std::optional<JwtAuthenticator::Digest> parseHexDigest(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  JwtAuthenticator::Digest d{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return d;
}

std::string hexPrefix(const JwtAuthenticator::Digest& d, std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes && i < d.size(); ++i) {
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 0xF];
  }
  return out;
}

std::int64_t systemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Never 0 (an empty cache's owner) and never reused, unlike an address.
std::uint64_t nextInstanceId() {
  static std::atomic<std::uint64_t> next{0};
  return ++next;
}

bool onHubPath(const std::string& path) {
  return path.size() >= 6 && core::iequals(std::string_view(path).substr(0, 6), "/hubs/");
}

}  // namespace

JwtAuthenticator::JwtAuthenticator(JwtVerifier verifier, const std::vector<std::string>& apiKeys,
                                   Clock clock)
    : verifier_(std::move(verifier)),
      clock_(clock ? std::move(clock) : Clock(systemNow)),
      skewSeconds_(verifier_.clockSkewSeconds()),
      instanceId_(nextInstanceId()) {
  for (const auto& key : apiKeys) {
    if (key.rfind("sha256:", 0) == 0) {
      auto d = parseHexDigest(std::string_view(key).substr(7));
      if (!d) {
        throw std::invalid_argument(
            "Workers:ApiKeys: a hashed key must be sha256: and 64 hexadecimal digits");
      }
      apiKeys_.push_back(*d);
    } else {
      if (key.size() < 16) {
        throw std::invalid_argument("Workers:ApiKeys: a key must have at least 16 characters");
      }
      apiKeys_.push_back(digestOf(key));
    }
  }
}

JwtAuthenticator::Digest JwtAuthenticator::digestOf(std::string_view key) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(key.data(), key.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

std::optional<Principal> JwtAuthenticator::fromApiKey(std::string_view value) const {
  if (apiKeys_.empty()) return std::nullopt;
  const auto presented = digestOf(value);
  const Digest* match = nullptr;
  // Every key is compared, each in constant time: neither the time nor the order tells
  // which key, or how much of one, was right.
  for (const auto& key : apiKeys_) {
    if (CRYPTO_memcmp(key.data(), presented.data(), key.size()) == 0) match = &key;
  }
  if (!match) return std::nullopt;
  Principal p;
  p.userId = "key-" + hexPrefix(*match, 4);
  p.roles = {"worker"};
  p.authenticated = true;
  p.apiKey = true;
  return p;
}

// Tokens verified lately on this thread. A worker sends the same token with every report
// and a client with every long poll: verifying it again (base64url, two JSON documents,
// an HMAC, or an RSA/ECDSA verification of 0.4-0.9 M instructions) would cost more than
// the report itself. A hit is an exact match of the whole token text, so it can only
// return what verifying that very text returned; its expiry is checked again on each hit.
// Per thread, so no lock; bounded, and emptied when full (tokens rotate slowly).
struct VerifiedTokens {
  static constexpr std::size_t kMaxEntries = 256;
  std::uint64_t owner = 0;  // the authenticator the entries belong to (its instanceId_)
  std::unordered_map<std::string, Principal> entries;
};

Principal JwtAuthenticator::fromToken(std::string_view token) const {
  const auto now = clock_();
  thread_local VerifiedTokens cache;
  if (cache.owner != instanceId_) {
    cache.entries.clear();
    cache.owner = instanceId_;
  }
  // Looked up first: a remembered JWT needs neither the API keys' SHA-256 nor a verify.
  std::string text(token);
  if (auto it = cache.entries.find(text); it != cache.entries.end()) {
    if (now < it->second.expiresAt + skewSeconds_) return it->second;
    cache.entries.erase(it);
  }
  if (auto key = fromApiKey(token)) return *key;
  auto result = verifier_.verify(token, now);
  Principal p;
  if (!result.ok()) {
    p.credentialRejected = true;
    return p;
  }
  p.userId = std::move(result.claims->subject);
  p.roles = std::move(result.claims->roles);
  p.expiresAt = result.claims->expiresAt;
  p.authenticated = true;
  if (cache.entries.size() >= VerifiedTokens::kMaxEntries) cache.entries.clear();
  cache.entries.emplace(std::move(text), p);
  return p;
}

Principal JwtAuthenticator::authenticate(const core::HttpRequest& request) const {
  if (auto header = request.header("authorization")) {
    std::string_view v = *header;
    // The scheme is case-insensitive (RFC 9110 section 11.1); one space, then the token.
    if (v.size() > 7 && core::iequals(v.substr(0, 7), "bearer ")) {
      return fromToken(v.substr(7));
    }
    Principal p;
    p.credentialRejected = true;  // another scheme (Basic...): not one Herald takes
    return p;
  }
  if (auto key = request.header("x-api-key")) {
    if (auto p = fromApiKey(*key)) return *p;
    Principal p;
    p.credentialRejected = true;
    return p;
  }
  if (onHubPath(request.path)) {
    if (auto token = core::queryValue(request.query, "access_token")) return fromToken(*token);
  }
  return Principal::anonymous();
}

}  // namespace herald::auth
