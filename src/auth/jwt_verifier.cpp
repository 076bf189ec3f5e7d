#include "auth/jwt_verifier.h"

#include <cmath>
#include <memory>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/base64url.h"

namespace herald::auth {

namespace json = boost::json;

namespace {

constexpr std::string_view kNameIdentifierClaim =
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";
constexpr std::string_view kRoleClaim =
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
constexpr std::size_t kMaxSubjectLength = 128;

JwtResult fail(JwtError error) {
  JwtResult r;
  r.error = error;
  return r;
}

// A base64url part decoded and parsed as a JSON object, or nullopt.
std::optional<json::object> decodeObject(std::string_view part) {
  auto bytes = decodeBase64Url(part);
  if (!bytes) return std::nullopt;
  boost::system::error_code ec;
  auto v = json::parse(*bytes, ec);  // strict: no comments, no trailing commas, valid UTF-8
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

// A NumericDate (RFC 7519: seconds, possibly fractional) as whole seconds, or nullopt.
std::optional<std::int64_t> numericDate(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) {
    return v.as_uint64() > static_cast<std::uint64_t>(INT64_MAX)
               ? INT64_MAX
               : static_cast<std::int64_t>(v.as_uint64());
  }
  if (v.is_double()) {
    const double d = v.as_double();
    if (!std::isfinite(d) || d < -9.0e18 || d > 9.0e18) return std::nullopt;
    return static_cast<std::int64_t>(std::floor(d));
  }
  return std::nullopt;
}

// Appends the roles of one claim; false when it has another type than string or array
// of strings.
bool addRoles(const json::object& payload, std::string_view name, std::vector<std::string>& roles) {
  const auto* v = payload.if_contains(name);
  if (!v) return true;
  if (v->is_string()) {
    roles.emplace_back(v->as_string());
    return true;
  }
  if (!v->is_array()) return false;
  for (const auto& r : v->as_array()) {
    if (!r.is_string()) return false;
    roles.emplace_back(r.as_string());
  }
  return true;
}

bool audienceMatches(const json::value* aud, std::string_view expected) {
  if (!aud) return false;
  if (aud->is_string()) return aud->as_string() == expected;
  if (!aud->is_array()) return false;
  for (const auto& a : aud->as_array()) {
    if (a.is_string() && a.as_string() == expected) return true;
  }
  return false;
}

using PkeyCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

bool digestVerify(EVP_PKEY* key, std::string_view input, const unsigned char* sig,
                  std::size_t sigLen) {
  PkeyCtx ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx) return false;
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig, sigLen,
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

// JWS ES256 signatures are r||s, 32 bytes each (RFC 7518 section 3.4); OpenSSL wants DER.
std::optional<std::string> es256ToDer(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  if (!r || !s || !sig || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);  // frees r and s too
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::optional<JwtAlgorithm> parseAlgorithm(std::string_view alg) {
  // Exactly as registered (RFC 7518): "none", "None", "hs256" are not these.
  if (alg == "HS256") return JwtAlgorithm::HS256;
  if (alg == "RS256") return JwtAlgorithm::RS256;
  if (alg == "ES256") return JwtAlgorithm::ES256;
  return std::nullopt;
}

bool signatureValid(const JwtKey& key, std::string_view signingInput, std::string_view signature) {
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
  switch (key.algorithm) {
    case JwtAlgorithm::HS256: {
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int macLen = 0;
      if (!HMAC(EVP_sha256(), key.secret.data(), static_cast<int>(key.secret.size()),
                reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size(),
                mac, &macLen)) {
        return false;
      }
      // Constant time: the comparison must not tell a forger how many bytes were right.
      return signature.size() == macLen && CRYPTO_memcmp(mac, sig, macLen) == 0;
    }
    case JwtAlgorithm::RS256:
      return digestVerify(static_cast<EVP_PKEY*>(key.publicKey.get()), signingInput, sig,
                          signature.size());
    case JwtAlgorithm::ES256: {
      auto der = es256ToDer(signature);
      if (!der) return false;
      return digestVerify(static_cast<EVP_PKEY*>(key.publicKey.get()), signingInput,
                          reinterpret_cast<const unsigned char*>(der->data()), der->size());
    }
  }
  return false;
}

}  // namespace

std::string_view toString(JwtError error) {
  switch (error) {
    case JwtError::Malformed: return "malformed";
    case JwtError::UnsupportedAlgorithm: return "unsupported_algorithm";
    case JwtError::UnknownKey: return "unknown_key";
    case JwtError::BadSignature: return "bad_signature";
    case JwtError::MissingExpiry: return "missing_expiry";
    case JwtError::Expired: return "expired";
    case JwtError::NotYetValid: return "not_yet_valid";
    case JwtError::WrongIssuer: return "wrong_issuer";
    case JwtError::WrongAudience: return "wrong_audience";
    case JwtError::MissingSubject: return "missing_subject";
  }
  return "unknown";
}

JwtVerifier::JwtVerifier(JwtKeySet keys, JwtOptions options)
    : keys_(std::move(keys)), options_(std::move(options)) {}

JwtResult JwtVerifier::verify(std::string_view token, std::int64_t nowSeconds) const {
  if (token.empty() || token.size() > kMaxTokenBytes) return fail(JwtError::Malformed);
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return fail(JwtError::Malformed);
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return fail(JwtError::Malformed);  // JWE (five parts) and anything else
  }
  const auto headerPart = token.substr(0, dot1);
  const auto payloadPart = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const auto signaturePart = token.substr(dot2 + 1);

  auto header = decodeObject(headerPart);
  if (!header) return fail(JwtError::Malformed);
  const auto* alg = header->if_contains("alg");
  if (!alg || !alg->is_string()) return fail(JwtError::Malformed);
  // No extension is understood, so a token that makes one critical is refused (RFC 7515
  // section 4.1.11).
  if (header->contains("crit")) return fail(JwtError::Malformed);
  const auto algorithm = parseAlgorithm(alg->as_string());
  if (!algorithm) return fail(JwtError::UnsupportedAlgorithm);
  std::optional<std::string_view> kid;
  if (const auto* k = header->if_contains("kid")) {
    if (!k->is_string()) return fail(JwtError::Malformed);
    kid = k->as_string();
  }

  auto signature = decodeBase64Url(signaturePart);
  if (!signature || signature->empty()) return fail(JwtError::Malformed);
  // The signing input is the two parts exactly as sent (RFC 7515 section 5.2).
  const auto signingInput = token.substr(0, dot2);
  bool anyKey = false;
  bool verified = false;
  for (const auto& key : keys_.keys()) {
    if (key.algorithm != *algorithm) continue;  // the key decides the algorithm
    if (kid ? key.kid != *kid : false) continue;
    anyKey = true;
    if (signatureValid(key, signingInput, *signature)) {
      verified = true;
      break;
    }
  }
  if (!anyKey) {
    const bool algorithmKnown = [&] {
      for (const auto& key : keys_.keys()) {
        if (key.algorithm == *algorithm) return true;
      }
      return false;
    }();
    return fail(algorithmKnown ? JwtError::UnknownKey : JwtError::UnsupportedAlgorithm);
  }
  if (!verified) return fail(JwtError::BadSignature);

  // Only a signed payload is read.
  auto payload = decodeObject(payloadPart);
  if (!payload) return fail(JwtError::Malformed);
  const auto skew = static_cast<std::int64_t>(options_.clockSkew.count());
  const auto* expValue = payload->if_contains("exp");
  if (!expValue) return fail(JwtError::MissingExpiry);
  const auto exp = numericDate(*expValue);
  if (!exp) return fail(JwtError::Malformed);
  if (nowSeconds >= *exp + skew) return fail(JwtError::Expired);
  if (const auto* nbfValue = payload->if_contains("nbf")) {
    const auto nbf = numericDate(*nbfValue);
    if (!nbf) return fail(JwtError::Malformed);
    if (nowSeconds + skew < *nbf) return fail(JwtError::NotYetValid);
  }
  if (!options_.issuer.empty()) {
    const auto* iss = payload->if_contains("iss");
    if (!iss || !iss->is_string() || iss->as_string() != options_.issuer) {
      return fail(JwtError::WrongIssuer);
    }
  }
  if (!options_.audience.empty() &&
      !audienceMatches(payload->if_contains("aud"), options_.audience)) {
    return fail(JwtError::WrongAudience);
  }

  JwtClaims claims;
  const json::value* sub = payload->if_contains("sub");
  if (!sub) sub = payload->if_contains(kNameIdentifierClaim);
  if (!sub || !sub->is_string() || sub->as_string().empty() ||
      sub->as_string().size() > kMaxSubjectLength) {
    return fail(JwtError::MissingSubject);
  }
  for (char c : sub->as_string()) {
    // A user id ends up in group names and log lines: no control characters.
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return fail(JwtError::MissingSubject);
  }
  claims.subject = std::string(sub->as_string());
  for (auto name : {std::string_view("role"), std::string_view("roles"), kRoleClaim}) {
    if (!addRoles(*payload, name, claims.roles)) return fail(JwtError::Malformed);
  }
  claims.expiresAt = *exp;
  JwtResult result;
  result.claims = std::move(claims);
  return result;
}

}  // namespace herald::auth
