// The JWT verifier: every accepted form and every refusal, with keys generated here by
// OpenSSL and tokens signed independently of the verifier (jwt_test_keys.h).
#include <gtest/gtest.h>

#include "auth/base64url.h"
#include "auth/jwt_verifier.h"
#include "jwt_test_keys.h"

using namespace herald::auth;
using namespace herald::auth::testing;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-secret";

std::string payload(const std::string& extra = "") {
  return R"({"sub":"alice","exp":)" + std::to_string(kNow + 600) + extra + "}";
}

std::string hsToken(const std::string& body,
                    const std::string& header = R"({"alg":"HS256","typ":"JWT"})",
                    const std::string& secret = kSecret) {
  auto in = signingInput(header, body);
  return token(in, hs256(secret, in));
}

JwtVerifier hsVerifier(JwtOptions options = {}) {
  JwtKeySet keys;
  keys.addSecret(kSecret);
  return JwtVerifier(std::move(keys), std::move(options));
}

struct RsaFixture {
  PkeyPtr key = generateRsa();
  PkeyPtr ec = generateEc();
  std::string rsToken(const std::string& body, const std::string& header = R"({"alg":"RS256"})") {
    auto in = signingInput(header, body);
    return token(in, rs256(key, in));
  }
  std::string esToken(const std::string& body, const std::string& header = R"({"alg":"ES256"})") {
    auto in = signingInput(header, body);
    return token(in, es256(ec, in));
  }
  JwtVerifier verifier(bool withSecret = false) {
    JwtKeySet keys;
    if (withSecret) keys.addSecret(kSecret);
    keys.addPem(publicPem(key) + publicPem(ec), "test");
    return JwtVerifier(std::move(keys), {});
  }
};

RsaFixture& rsa() {
  static RsaFixture f;  // RSA key generation is slow: one per test binary run
  return f;
}

}  // namespace

TEST(Base64Url, DecodesCanonicalTextOnly) {
  EXPECT_EQ(decodeBase64Url("aGVsbG8"), "hello");
  EXPECT_EQ(decodeBase64Url(""), "");
  EXPECT_EQ(decodeBase64Url("-_8"), std::string("\xfb\xff", 2));
  EXPECT_FALSE(decodeBase64Url("aGVsbG8="));  // padding
  EXPECT_FALSE(decodeBase64Url("+/8"));       // the other alphabet
  EXPECT_FALSE(decodeBase64Url("aGVs bG8"));  // whitespace
  EXPECT_FALSE(decodeBase64Url("a"));         // 1 mod 4
  EXPECT_FALSE(decodeBase64Url("aGVsbG9"));   // non-zero leftover bits (aGVsbG8 is canonical)
  for (std::string s : {std::string(""), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(decodeBase64Url(encodeBase64Url(s)), s);
  }
}

TEST(JwtVerifier, AcceptsHs256WithSubjectRolesAndExpiry) {
  auto r = hsVerifier().verify(
      hsToken(payload(R"(,"role":"admin","roles":["worker","x"],)"
                      R"("http://schemas.microsoft.com/ws/2008/06/identity/claims/role":"r3")")),
      kNow);
  ASSERT_TRUE(r.ok()) << toString(r.error);
  EXPECT_EQ(r.claims->subject, "alice");
  EXPECT_EQ(r.claims->roles, (std::vector<std::string>{"admin", "worker", "x", "r3"}));
  EXPECT_EQ(r.claims->expiresAt, kNow + 600);
}

TEST(JwtVerifier, SubjectFromTheNameIdentifierClaim) {
  auto body = R"({"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier":"bob",)"
              R"("exp":)" +
              std::to_string(kNow + 60) + "}";
  auto r = hsVerifier().verify(hsToken(body), kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.claims->subject, "bob");
}

TEST(JwtVerifier, AcceptsRs256AndEs256) {
  auto v = rsa().verifier();
  EXPECT_TRUE(v.verify(rsa().rsToken(payload()), kNow).ok());
  auto es = v.verify(rsa().esToken(payload()), kNow);
  EXPECT_TRUE(es.ok()) << toString(es.error);
}

TEST(JwtVerifier, ExpiryAndNotBeforeWithClockSkew) {
  auto v = hsVerifier(JwtOptions{"", "", std::chrono::seconds(30)});
  auto at = [&](std::int64_t exp, const std::string& extra = "") {
    return v.verify(hsToken(R"({"sub":"a","exp":)" + std::to_string(exp) + extra + "}"), kNow);
  };
  EXPECT_TRUE(at(kNow - 10).ok());  // within the skew
  EXPECT_EQ(at(kNow - 30).error, JwtError::Expired);
  EXPECT_EQ(at(kNow - 3600).error, JwtError::Expired);
  EXPECT_TRUE(at(kNow + 60, ",\"nbf\":" + std::to_string(kNow + 20)).ok());
  EXPECT_EQ(at(kNow + 600, ",\"nbf\":" + std::to_string(kNow + 31)).error, JwtError::NotYetValid);
  EXPECT_TRUE(at(kNow + 60, ",\"nbf\":1.5e9").ok());  // fractional NumericDate form
  EXPECT_EQ(at(kNow + 60, ",\"nbf\":\"soon\"").error, JwtError::Malformed);
  EXPECT_EQ(v.verify(hsToken(R"({"sub":"a"})"), kNow).error, JwtError::MissingExpiry);
  EXPECT_EQ(v.verify(hsToken(R"({"sub":"a","exp":"never"})"), kNow).error, JwtError::Malformed);
}

TEST(JwtVerifier, IssuerAndAudienceWhenConfigured) {
  auto v = hsVerifier(JwtOptions{"https://issuer", "herald", std::chrono::seconds(30)});
  const auto ok = R"(,"iss":"https://issuer","aud":"herald")";
  EXPECT_TRUE(v.verify(hsToken(payload(ok)), kNow).ok());
  EXPECT_TRUE(
      v.verify(hsToken(payload(R"(,"iss":"https://issuer","aud":["other","herald"])")), kNow).ok());
  EXPECT_EQ(v.verify(hsToken(payload(R"(,"iss":"https://evil","aud":"herald")")), kNow).error,
            JwtError::WrongIssuer);
  EXPECT_EQ(v.verify(hsToken(payload(R"(,"aud":"herald")")), kNow).error, JwtError::WrongIssuer);
  EXPECT_EQ(v.verify(hsToken(payload(R"(,"iss":"https://issuer","aud":"other")")), kNow).error,
            JwtError::WrongAudience);
  EXPECT_EQ(v.verify(hsToken(payload(R"(,"iss":"https://issuer","aud":["a","b"])")), kNow).error,
            JwtError::WrongAudience);
  EXPECT_EQ(v.verify(hsToken(payload(R"(,"iss":"https://issuer")")), kNow).error,
            JwtError::WrongAudience);
  // Not configured: not checked.
  EXPECT_TRUE(hsVerifier().verify(hsToken(payload(R"(,"iss":"x","aud":"y")")), kNow).ok());
}

TEST(JwtVerifier, RefusesAlgNone) {
  auto v = hsVerifier();
  auto in = signingInput(R"({"alg":"none"})", payload());
  EXPECT_FALSE(v.verify(in + ".", kNow).ok());
  EXPECT_EQ(v.verify(token(in, "x"), kNow).error, JwtError::UnsupportedAlgorithm);
  auto in2 = signingInput(R"({"alg":"None"})", payload());
  EXPECT_EQ(v.verify(token(in2, hs256(kSecret, in2)), kNow).error, JwtError::UnsupportedAlgorithm);
  EXPECT_EQ(v.verify(hsToken(payload(), R"({"alg":"HS384"})"), kNow).error,
            JwtError::UnsupportedAlgorithm);
  EXPECT_EQ(v.verify(hsToken(payload(), R"({"alg":"hs256"})"), kNow).error,
            JwtError::UnsupportedAlgorithm);
}

TEST(JwtVerifier, RefusesHs256SignedWithThePublicKeyBytes) {
  // The classic confusion: a forger HMACs with the (public) PEM and says HS256.
  const auto pem = publicPem(rsa().key);
  const auto forged = hsToken(payload(), R"({"alg":"HS256"})", pem);
  EXPECT_EQ(rsa().verifier(false).verify(forged, kNow).error, JwtError::UnsupportedAlgorithm);
  // With a secret configured as well, HS256 is checked with the secret only.
  EXPECT_EQ(rsa().verifier(true).verify(forged, kNow).error, JwtError::BadSignature);
}

TEST(JwtVerifier, RefusesAnAlgorithmNotTheKeys) {
  // An RS256 token for a server with only a secret, an ES256 header on an RSA signature.
  EXPECT_EQ(hsVerifier().verify(rsa().rsToken(payload()), kNow).error,
            JwtError::UnsupportedAlgorithm);
  auto in = signingInput(R"({"alg":"ES256"})", payload());
  EXPECT_EQ(rsa().verifier().verify(token(in, rs256(rsa().key, in)), kNow).error,
            JwtError::BadSignature);
}

TEST(JwtVerifier, RefusesWrongSignatures) {
  auto v = rsa().verifier(true);
  for (auto t : {hsToken(payload()), rsa().rsToken(payload()), rsa().esToken(payload())}) {
    ASSERT_TRUE(v.verify(t, kNow).ok());
    // The payload changed after signing.
    auto dot1 = t.find('.');
    auto dot2 = t.rfind('.');
    auto tampered =
        t.substr(0, dot1 + 1) + encodeBase64Url(payload(R"(,"role":"admin")")) + t.substr(dot2);
    EXPECT_EQ(v.verify(tampered, kNow).error, JwtError::BadSignature);
    // A signature byte changed.
    auto sig = *decodeBase64Url(t.substr(dot2 + 1));
    sig[sig.size() / 2] ^= 1;
    EXPECT_EQ(v.verify(t.substr(0, dot2 + 1) + encodeBase64Url(sig), kNow).error,
              JwtError::BadSignature);
    // A truncated signature.
    EXPECT_EQ(v.verify(t.substr(0, dot2 + 1) + encodeBase64Url(sig.substr(1)), kNow).error,
              JwtError::BadSignature);
  }
  EXPECT_EQ(v.verify(hsToken(payload(), R"({"alg":"HS256"})", kSecret + "x"), kNow).error,
            JwtError::BadSignature);
  // Another key's signature.
  auto other = generateEc();
  auto in = signingInput(R"({"alg":"ES256"})", payload());
  EXPECT_EQ(v.verify(token(in, es256(other, in)), kNow).error, JwtError::BadSignature);
}

TEST(JwtVerifier, PicksTheKeyByKid) {
  auto second = generateEc();
  JwtKeySet keys;
  keys.addPem("kid: one\n" + publicPem(rsa().ec) + "# kid: two\n" + publicPem(second), "test");
  ASSERT_EQ(keys.keys().size(), 2u);
  EXPECT_EQ(keys.keys()[0].kid, "one");
  EXPECT_EQ(keys.keys()[1].kid, "two");
  JwtVerifier v(std::move(keys), {});
  auto signedBy = [&](const PkeyPtr& k, const std::string& header) {
    auto in = signingInput(header, payload());
    return token(in, es256(k, in));
  };
  EXPECT_TRUE(v.verify(signedBy(second, R"({"alg":"ES256","kid":"two"})"), kNow).ok());
  EXPECT_TRUE(v.verify(signedBy(rsa().ec, R"({"alg":"ES256","kid":"one"})"), kNow).ok());
  EXPECT_TRUE(v.verify(signedBy(second, R"({"alg":"ES256"})"), kNow).ok());  // tries each
  EXPECT_EQ(v.verify(signedBy(second, R"({"alg":"ES256","kid":"one"})"), kNow).error,
            JwtError::BadSignature);
  EXPECT_EQ(v.verify(signedBy(second, R"({"alg":"ES256","kid":"three"})"), kNow).error,
            JwtError::UnknownKey);
  EXPECT_EQ(v.verify(signedBy(second, R"({"alg":"ES256","kid":2})"), kNow).error,
            JwtError::Malformed);
}

TEST(JwtVerifier, RefusesMalformedTokens) {
  auto v = hsVerifier();
  const auto good = hsToken(payload());
  for (const std::string& t : {
           std::string(""),
           std::string("garbage"),
           std::string("a.b"),
           std::string("a.b.c"),
           std::string("a.b.c.d.e"),
           good + ".x",
           good + "=",
           std::string("..."),
           "x" + good,
           std::string(9000, 'a'),
           hsToken("[1,2]"),
           hsToken("not json"),
           hsToken(payload(), "[]"),
           hsToken(payload(), R"({"typ":"JWT"})"),
           hsToken(payload(), R"({"alg":1})"),
           hsToken(payload(), R"({"alg":"HS256","crit":["exp"]})"),
           hsToken(payload(), R"({"alg":"HS256",})"),
           hsToken(payload(R"(,"role":5)")),
           hsToken(payload(R"(,"roles":["a",1])")),
       }) {
    EXPECT_FALSE(v.verify(t, kNow).ok()) << t;
  }
}

TEST(JwtVerifier, RefusesAMissingOrUnsafeSubject) {
  auto v = hsVerifier();
  const auto exp = std::to_string(kNow + 60);
  EXPECT_EQ(v.verify(hsToken(R"({"exp":)" + exp + "}"), kNow).error, JwtError::MissingSubject);
  EXPECT_EQ(v.verify(hsToken(R"({"sub":"","exp":)" + exp + "}"), kNow).error,
            JwtError::MissingSubject);
  EXPECT_EQ(v.verify(hsToken(R"({"sub":7,"exp":)" + exp + "}"), kNow).error,
            JwtError::MissingSubject);
  EXPECT_EQ(v.verify(hsToken(R"({"sub":"a\nb","exp":)" + exp + "}"), kNow).error,
            JwtError::MissingSubject);
  EXPECT_EQ(
      v.verify(hsToken(R"({"sub":")" + std::string(129, 'a') + R"(","exp":)" + exp + "}"), kNow)
          .error,
      JwtError::MissingSubject);
}

TEST(JwtKeySet, RefusesWeakOrUnsupportedKeys) {
  JwtKeySet keys;
  EXPECT_THROW(keys.addSecret("short"), std::invalid_argument);
  EXPECT_THROW(keys.addSecret(std::string(31, 'a')), std::invalid_argument);
  EXPECT_NO_THROW(keys.addSecret(std::string(32, 'a')));
  EXPECT_THROW(keys.addPem(publicPem(generateRsa(1024)), "t"), std::invalid_argument);
  EXPECT_THROW(keys.addPem(publicPem(generateEc("P-384")), "t"), std::invalid_argument);
  EXPECT_THROW(keys.addPem("no key here", "t"), std::invalid_argument);
  EXPECT_THROW(keys.addPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "t"),
               std::invalid_argument);
  EXPECT_THROW(keys.addPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "t"),
               std::invalid_argument);
  EXPECT_THROW(keys.addPemFile("/nonexistent/key.pem"), std::invalid_argument);
}
