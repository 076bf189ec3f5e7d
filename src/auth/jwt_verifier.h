#pragma once
// Verifies a JWT (JWS compact serialisation, RFC 7519/7515) and reads the claims Herald
// uses. Pure apart from OpenSSL's signature checks: the caller passes the time, so tests
// and the fuzz target are deterministic.
//
// What is refused (each a JwtError): more than 8 KB; not three base64url parts; a header
// or payload that is not a JSON object; `crit`; an algorithm no configured key allows
// (`none`, HS384..., and any algorithm not the key's own: see jwt_keys.h); a `kid` no key
// has; a wrong signature; no numeric `exp`; `exp` passed or `nbf` not reached (each with
// the clock skew); `iss` or `aud` other than configured (aud: a string or an array
// containing it); no `sub` (or NameIdentifier claim) of 1-128 characters; a role claim
// that is not a string or an array of strings.
//
// Thread safety: immutable after construction; verify may run on any thread at once.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/jwt_keys.h"

namespace herald::auth {

enum class JwtError {
  Malformed,             // not a well-formed JWS/JWT
  UnsupportedAlgorithm,  // `alg` none, unknown, or no key of that algorithm
  UnknownKey,            // `kid` names no configured key
  BadSignature,
  MissingExpiry,
  Expired,
  NotYetValid,
  WrongIssuer,
  WrongAudience,
  MissingSubject,
};

std::string_view toString(JwtError error);

struct JwtClaims {
  std::string subject;             // `sub`, or the NameIdentifier claim URI
  std::vector<std::string> roles;  // `role`, `roles`, the role claim URI (string or array)
  std::int64_t expiresAt = 0;      // `exp`, Unix seconds
};

struct JwtOptions {
  std::string issuer;    // empty: `iss` not checked
  std::string audience;  // empty: `aud` not checked
  // Allowed difference between the issuer's clock and ours, both ways (exp and nbf).
  std::chrono::seconds clockSkew{30};
};

struct JwtResult {
  std::optional<JwtClaims> claims;  // set when valid
  JwtError error = JwtError::Malformed;
  bool ok() const { return claims.has_value(); }
};

class JwtVerifier {
 public:
  static constexpr std::size_t kMaxTokenBytes = 8192;

  JwtVerifier(JwtKeySet keys, JwtOptions options);

  JwtResult verify(std::string_view token, std::int64_t nowSeconds) const;

  std::int64_t clockSkewSeconds() const { return options_.clockSkew.count(); }

 private:
  JwtKeySet keys_;
  JwtOptions options_;
};

}  // namespace herald::auth
