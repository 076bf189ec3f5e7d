#include "transport/cluster_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <stdexcept>

#include "auth/base64url.h"

namespace herald::transport {

namespace {

// Token layout, before base64url: format (1), negotiate version (1), flags (1: bit 0
// stateful), expiry (8, big-endian unix seconds), id length (1) and id, URL length (1) and
// URL. The MAC follows after a '.', so the token is URL-safe as the clients append it.
constexpr std::uint8_t kTokenFormat = 1;
constexpr std::size_t kMacBytes = 32;  // HMAC-SHA256, untruncated

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len)) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return {reinterpret_cast<const char*>(out), len};
}

bool equalMacs(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// One MAC over two fields with a separator neither can forge: `a` is base64url or a number.
std::string macOf(const std::string& key, std::string_view a, std::string_view b) {
  std::string data;
  data.reserve(a.size() + b.size() + 1);
  data.append(a).append(1, '\n').append(b);
  return hmac(key, data);
}

}  // namespace

ClusterKeys::ClusterKeys(std::string_view secret, std::string nodeId,
                         std::vector<std::string> nodes, std::chrono::seconds tokenLifetime)
    : tokenKey_(hmac(secret, "herald connection token v1")),
      forwardKey_(hmac(secret, "herald forwarded request v1")),
      nodeId_(std::move(nodeId)),
      nodes_(std::move(nodes)),
      tokenLifetime_(tokenLifetime.count()) {
  if (secret.size() < 32) throw std::invalid_argument("Cluster:Secret: at least 32 bytes");
}

std::int64_t ClusterKeys::unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ClusterKeys::issueToken(const std::string& connectionId, int negotiateVersion,
                                    bool statefulReconnect, std::string_view userId,
                                    std::int64_t now) const {
  std::string payload;
  payload.reserve(13 + connectionId.size() + nodeUrl_.size());
  payload += static_cast<char>(kTokenFormat);
  payload += static_cast<char>(negotiateVersion >= 1 ? 1 : 0);
  payload += static_cast<char>(statefulReconnect ? 1 : 0);
  const auto expires = static_cast<std::uint64_t>(now + tokenLifetime_);
  for (int shift = 56; shift >= 0; shift -= 8) {
    payload += static_cast<char>((expires >> shift) & 0xFF);
  }
  // Both fields are ours (a random id, the configured URL), far below 255 bytes.
  payload += static_cast<char>(std::min<std::size_t>(connectionId.size(), 255));
  payload.append(connectionId, 0, 255);
  payload += static_cast<char>(std::min<std::size_t>(nodeUrl_.size(), 255));
  payload.append(nodeUrl_, 0, 255);
  auto body = auth::encodeBase64Url(payload);
  auto tag = macOf(tokenKey_, body, userId);
  return body + "." + auth::encodeBase64Url(tag);
}

std::optional<TokenClaims> ClusterKeys::verifyToken(std::string_view token,
                                                    std::string_view userId) const {
  // Longer than any token this code issues: nothing larger is even decoded.
  if (token.size() > 1024) return std::nullopt;
  const auto dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const auto body = token.substr(0, dot);
  auto tag = auth::decodeBase64Url(token.substr(dot + 1));
  if (!tag || tag->size() != kMacBytes) return std::nullopt;
  if (!equalMacs(*tag, macOf(tokenKey_, body, userId))) return std::nullopt;
  // Authentic from here on: a node made it. The layout is still checked, so a future
  // format is refused rather than misread.
  auto payload = auth::decodeBase64Url(body);
  if (!payload || payload->size() < 13) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(payload->data());
  if (p[0] != kTokenFormat || p[1] > 1 || p[2] > 1) return std::nullopt;
  TokenClaims claims;
  claims.negotiateVersion = p[1];
  claims.statefulReconnect = p[2] == 1;
  std::uint64_t expires = 0;
  for (int i = 3; i < 11; ++i) expires = (expires << 8) | p[i];
  claims.expiresAt = static_cast<std::int64_t>(expires);
  std::size_t at = 11;
  const std::size_t idLength = p[at++];
  if (at + idLength + 1 > payload->size()) return std::nullopt;
  claims.connectionId = payload->substr(at, idLength);
  at += idLength;
  const std::size_t urlLength = p[at++];
  if (at + urlLength != payload->size() || idLength == 0 || urlLength == 0) return std::nullopt;
  claims.nodeUrl = payload->substr(at, urlLength);
  return claims;
}

bool ClusterKeys::forwardable(const TokenClaims& claims) const {
  if (claims.nodeUrl == nodeUrl_) return false;  // ours, and gone: 404
  return nodes_.empty() || std::find(nodes_.begin(), nodes_.end(), claims.nodeUrl) != nodes_.end();
}

std::string ClusterKeys::forwardHeader(std::string_view method, std::string_view target,
                                       std::int64_t now) const {
  const auto time = std::to_string(now);
  std::string request(method);
  request.append(1, ' ').append(target);
  return time + "." + auth::encodeBase64Url(macOf(forwardKey_, time, request));
}

ForwardGuard ClusterKeys::checkForwardHeader(std::optional<std::string_view> value,
                                             std::string_view method, std::string_view target,
                                             std::int64_t now) const {
  if (!value) return ForwardGuard::Absent;
  const auto dot = value->find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 12) return ForwardGuard::Invalid;
  const auto time = value->substr(0, dot);
  std::int64_t sent = 0;
  for (char ch : time) {
    if (ch < '0' || ch > '9') return ForwardGuard::Invalid;
    sent = sent * 10 + (ch - '0');
  }
  // A captured header is good for a minute at most, and only for the request it was made for.
  if (sent > now + kClockSkewSeconds || sent < now - 2 * kClockSkewSeconds) {
    return ForwardGuard::Invalid;
  }
  auto tag = auth::decodeBase64Url(value->substr(dot + 1));
  if (!tag || tag->size() != kMacBytes) return ForwardGuard::Invalid;
  std::string request(method);
  request.append(1, ' ').append(target);
  return equalMacs(*tag, macOf(forwardKey_, time, request)) ? ForwardGuard::Valid
                                                            : ForwardGuard::Invalid;
}

}  // namespace herald::transport
