// Where the JWT authenticator reads credentials, and worker API keys.
#include <gtest/gtest.h>

#include <memory>

#include "auth/jwt_authenticator.h"
#include "jwt_test_keys.h"

using namespace herald::auth;
using namespace herald::auth::testing;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret(40, 's');
const std::string kPlainKey = "worker-key-0123456789";

std::string goodToken(const std::string& sub = "alice", const std::string& extra = "") {
  auto in = signingInput(R"({"alg":"HS256"})", R"({"sub":")" + sub + R"(","exp":)" +
                                                   std::to_string(kNow + 60) + extra + "}");
  return token(in, hs256(kSecret, in));
}

std::string hexDigest(const std::string& key) {
  auto d = JwtAuthenticator::digestOf(key);
  std::string hex;
  for (unsigned char c : d) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[c >> 4];
    hex += kHex[c & 0xF];
  }
  return hex;
}

JwtAuthenticator make() {
  JwtKeySet keys;
  keys.addSecret(kSecret);
  return JwtAuthenticator(JwtVerifier(std::move(keys), {}),
                          {kPlainKey, "sha256:" + hexDigest("hashed-key-abcdefgh")},
                          [] { return kNow; });
}

herald::core::HttpRequest requestTo(const std::string& path) {
  herald::core::HttpRequest r;
  r.method = "GET";
  r.path = path;
  return r;
}

}  // namespace

TEST(JwtAuthenticator, BearerToken) {
  auto a = make();
  auto r = requestTo("/api/v1/jobs");
  r.headers["authorization"] = "Bearer " + goodToken("alice", R"(,"role":"admin")");
  auto p = a.authenticate(r);
  EXPECT_TRUE(p.authenticated);
  EXPECT_EQ(p.userId, "alice");
  EXPECT_TRUE(p.isAdmin());
  EXPECT_EQ(p.expiresAt, kNow + 60);
  EXPECT_EQ(p.actorId(), "user:alice");
  r.headers["authorization"] = "bearer " + goodToken();  // the scheme is case-insensitive
  EXPECT_TRUE(a.authenticate(r).authenticated);
}

TEST(JwtAuthenticator, RefusedCredentialsAreMarked) {
  auto a = make();
  auto r = requestTo("/api/v1/jobs");
  EXPECT_FALSE(a.authenticate(r).credentialRejected);  // nothing sent
  for (const std::string& h : std::vector<std::string>{"Bearer garbage", "Basic YTpi", "Bearer ",
                                                       "Bearer " + goodToken() + "x"}) {
    r.headers["authorization"] = h;
    auto p = a.authenticate(r);
    EXPECT_FALSE(p.authenticated) << h;
    EXPECT_TRUE(p.credentialRejected) << h;
  }
}

TEST(JwtAuthenticator, AccessTokenQueryOnlyOnHubPaths) {
  auto a = make();
  auto hub = requestTo("/hubs/job-progress");
  hub.query.emplace_back("access_token", goodToken("bob"));
  auto p = a.authenticate(hub);
  EXPECT_TRUE(p.authenticated);
  EXPECT_EQ(p.userId, "bob");
  auto rest = requestTo("/api/v1/jobs");
  rest.query.emplace_back("access_token", goodToken("bob"));
  EXPECT_FALSE(a.authenticate(rest).authenticated);
}

TEST(JwtAuthenticator, WorkerApiKeysInClearOrHashed) {
  auto a = make();
  auto r = requestTo("/api/v1/jobs/claim");
  r.headers["x-api-key"] = kPlainKey;
  auto p = a.authenticate(r);
  EXPECT_TRUE(p.authenticated);
  EXPECT_TRUE(p.apiKey);
  EXPECT_TRUE(p.hasRole("worker"));
  EXPECT_FALSE(p.isAdmin());
  EXPECT_EQ(p.userId.rfind("key-", 0), 0u);
  EXPECT_EQ(p.actorId().rfind("key:key-", 0), 0u);
  r.headers.clear();
  r.headers["authorization"] = "Bearer hashed-key-abcdefgh";
  EXPECT_TRUE(a.authenticate(r).apiKey);
  r.headers.clear();
  r.headers["x-api-key"] = kPlainKey + "x";
  EXPECT_TRUE(a.authenticate(r).credentialRejected);
}

TEST(JwtAuthenticator, RefusesMalformedKeyConfiguration) {
  JwtKeySet keys;
  keys.addSecret(kSecret);
  JwtVerifier v(keys, {});
  EXPECT_THROW(JwtAuthenticator(v, {"short"}), std::invalid_argument);
  EXPECT_THROW(JwtAuthenticator(v, {"sha256:abc"}), std::invalid_argument);
  EXPECT_THROW(JwtAuthenticator(v, {"sha256:" + std::string(64, 'g')}), std::invalid_argument);
}

TEST(JwtAuthenticator, ARememberedTokenStillExpires) {
  // The per-thread cache of verified tokens answers a repeated token, but never past its
  // expiry (plus the clock skew, 30 s by default).
  auto now = std::make_shared<std::int64_t>(kNow);
  JwtKeySet keys;
  keys.addSecret(kSecret);
  JwtAuthenticator a(JwtVerifier(std::move(keys), {}), {}, [now] { return *now; });
  auto r = requestTo("/api/v1/jobs");
  r.headers["authorization"] = "Bearer " + goodToken("carol");  // exp: kNow + 60
  EXPECT_EQ(a.authenticate(r).userId, "carol");
  EXPECT_EQ(a.authenticate(r).userId, "carol");  // remembered
  *now = kNow + 89;
  EXPECT_TRUE(a.authenticate(r).authenticated);
  *now = kNow + 90;
  EXPECT_FALSE(a.authenticate(r).authenticated);
  EXPECT_TRUE(a.authenticate(r).credentialRejected);
  // Another authenticator (other keys) never sees this one's remembered tokens.
  JwtKeySet otherKeys;
  otherKeys.addSecret(std::string(40, 'o'));
  JwtAuthenticator other(JwtVerifier(std::move(otherKeys), {}), {}, [] { return kNow; });
  r.headers["authorization"] = "Bearer " + goodToken("carol");
  EXPECT_FALSE(other.authenticate(r).authenticated);
}
