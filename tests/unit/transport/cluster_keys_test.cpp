// The cluster's MACs (transport/cluster_keys.h): connection tokens any node can check, and
// the X-Herald-Forward guard of forwarded requests. Tampering, expiry, another secret,
// another user, replay of a guard on another request or after its minute. The e2e suite
// (nosticky.test.mjs) checks where they apply.
#include <gtest/gtest.h>

#include "auth/base64url.h"
#include "transport/cluster_keys.h"

using herald::transport::ClusterKeys;
using herald::transport::ForwardGuard;
using namespace std::chrono_literals;

namespace {

const std::string kSecret(32, 'k');
constexpr std::int64_t kNow = 1'800'000'000;

ClusterKeys keys(const std::string& secret = kSecret, std::string url = "http://10.0.0.1:5000",
                 std::vector<std::string> nodes = {}) {
  ClusterKeys k(secret, "node-a", std::move(nodes), 15s);
  k.setNodeUrl(std::move(url));
  return k;
}

// The token with one character of its payload part changed (still valid base64url).
std::string tampered(std::string token, std::size_t at) {
  token[at] = token[at] == 'A' ? 'B' : 'A';
  return token;
}

}  // namespace

TEST(ClusterTokens, RoundTripCarriesTheClaims) {
  auto a = keys();
  auto token = a.issueToken("conn-id-1234567890ab", 1, true, "alice", kNow);
  // URL-safe: the clients append it to URLs without encoding.
  EXPECT_EQ(
      token.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
      std::string::npos);
  auto claims = a.verifyToken(token, "alice");
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->connectionId, "conn-id-1234567890ab");
  EXPECT_EQ(claims->nodeUrl, "http://10.0.0.1:5000");
  EXPECT_EQ(claims->negotiateVersion, 1);
  EXPECT_TRUE(claims->statefulReconnect);
  EXPECT_EQ(claims->expiresAt, kNow + 15);
  // Another node with the same secret reads it, and would forward to its owner.
  auto b = keys(kSecret, "http://10.0.0.2:5000");
  auto seen = b.verifyToken(token, "alice");
  ASSERT_TRUE(seen);
  EXPECT_TRUE(b.forwardable(*seen));
  EXPECT_FALSE(a.forwardable(*seen));  // the owner never forwards to itself
  auto v0 = a.issueToken("x", 0, false, "", kNow);
  ASSERT_TRUE(a.verifyToken(v0, ""));
  EXPECT_EQ(a.verifyToken(v0, "")->negotiateVersion, 0);
  EXPECT_FALSE(a.verifyToken(v0, "")->statefulReconnect);
}

TEST(ClusterTokens, TamperingAnyPartFails) {
  auto a = keys();
  auto token = a.issueToken("conn-id-1234567890ab", 1, false, "", kNow);
  ASSERT_TRUE(a.verifyToken(token, ""));
  const auto dot = token.find('.');
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (i == dot) continue;
    auto bad = tampered(token, i);
    EXPECT_FALSE(a.verifyToken(bad, "")) << "changed at " << i;
  }
  EXPECT_FALSE(a.verifyToken(token.substr(0, dot), ""));
  EXPECT_FALSE(a.verifyToken(token.substr(0, token.size() - 1), ""));
  EXPECT_FALSE(a.verifyToken(token + "A", ""));
  EXPECT_FALSE(a.verifyToken("", ""));
  EXPECT_FALSE(a.verifyToken(".", ""));
  EXPECT_FALSE(a.verifyToken(std::string(5000, 'A') + "." + std::string(43, 'A'), ""));
  // A payload of the client's own choosing (another owner URL: SSRF) under the old MAC.
  auto payload = herald::auth::decodeBase64Url(token.substr(0, dot));
  ASSERT_TRUE(payload);
  auto evil = *payload;
  evil.replace(evil.find("10.0.0.1"), 8, "169.254.9");
  evil[evil.find("http://") - 1] = static_cast<char>(evil.size() - evil.find("http://"));
  EXPECT_FALSE(a.verifyToken(herald::auth::encodeBase64Url(evil) + token.substr(dot), ""));
}

TEST(ClusterTokens, AnotherSecretOrAnotherUserFails) {
  auto a = keys();
  auto token = a.issueToken("conn-id-1234567890ab", 1, false, "alice", kNow);
  EXPECT_FALSE(keys(std::string(32, 'j')).verifyToken(token, "alice"));
  EXPECT_FALSE(a.verifyToken(token, "bob"));
  EXPECT_FALSE(a.verifyToken(token, ""));
  EXPECT_THROW(ClusterKeys(std::string(31, 'k'), "n", {}, 15s), std::invalid_argument);
}

TEST(ClusterTokens, ExpiryAllowsTheClockSkewOnly) {
  auto a = keys();
  auto claims = a.verifyToken(a.issueToken("c", 1, false, "", kNow), "");
  ASSERT_TRUE(claims);
  EXPECT_FALSE(ClusterKeys::expired(*claims, kNow));
  EXPECT_FALSE(ClusterKeys::expired(*claims, kNow + 15 + ClusterKeys::kClockSkewSeconds));
  EXPECT_TRUE(ClusterKeys::expired(*claims, kNow + 16 + ClusterKeys::kClockSkewSeconds));
}

TEST(ClusterTokens, ClusterNodesListBoundsWhereRequestsGo) {
  auto b = keys(kSecret, "http://10.0.0.2:5000", {"http://10.0.0.2:5000", "http://10.0.0.3:5000"});
  auto listed = keys(kSecret, "http://10.0.0.3:5000");
  auto unlisted = keys(kSecret, "http://10.0.0.1:5000");
  EXPECT_TRUE(b.forwardable(*b.verifyToken(listed.issueToken("c", 1, false, "", kNow), "")));
  EXPECT_FALSE(b.forwardable(*b.verifyToken(unlisted.issueToken("c", 1, false, "", kNow), "")));
}

TEST(ForwardGuard, OnlyANodeCanMarkARequestForwarded) {
  auto a = keys();
  const std::string target = "/hubs/job-progress?id=abc&_=1";
  auto guard = a.forwardHeader("GET", target, kNow);
  EXPECT_EQ(a.checkForwardHeader(std::nullopt, "GET", target, kNow), ForwardGuard::Absent);
  EXPECT_EQ(a.checkForwardHeader(guard, "GET", target, kNow), ForwardGuard::Valid);
  // Another node of the cluster accepts it; another cluster does not.
  EXPECT_EQ(keys(kSecret, "http://10.0.0.2:5000").checkForwardHeader(guard, "GET", target, kNow),
            ForwardGuard::Valid);
  EXPECT_EQ(keys(std::string(32, 'j')).checkForwardHeader(guard, "GET", target, kNow),
            ForwardGuard::Invalid);
  // Bound to its request: not another method or target.
  EXPECT_EQ(a.checkForwardHeader(guard, "POST", target, kNow), ForwardGuard::Invalid);
  EXPECT_EQ(a.checkForwardHeader(guard, "GET", "/hubs/job-progress?id=abd&_=1", kNow),
            ForwardGuard::Invalid);
  // Good for a minute around its time, not later (a captured header cannot be replayed).
  EXPECT_EQ(a.checkForwardHeader(guard, "GET", target, kNow + 60), ForwardGuard::Valid);
  EXPECT_EQ(a.checkForwardHeader(guard, "GET", target, kNow + 61), ForwardGuard::Invalid);
  EXPECT_EQ(a.checkForwardHeader(guard, "GET", target, kNow - 31), ForwardGuard::Invalid);
  // Garbage, a connection token's MAC, an overflowing time: invalid, never a crash.
  auto token = a.issueToken("c", 1, false, "", kNow);
  for (std::string bad : {std::string(), std::string("."), std::string("x.y"), tampered(guard, 2),
                          tampered(guard, guard.size() - 3), guard.substr(0, guard.size() - 1),
                          std::to_string(kNow) + token.substr(token.find('.')),
                          std::string("99999999999999999999.") + guard.substr(guard.find('.') + 1),
                          std::string("-1.") + guard.substr(guard.find('.') + 1)}) {
    EXPECT_EQ(a.checkForwardHeader(bad, "GET", target, kNow), ForwardGuard::Invalid) << bad;
  }
}
