#pragma once
// The keys JWT signatures are checked with, and the one algorithm each allows.
//
// The key decides the algorithm, never the token: an HMAC secret verifies HS256 only, an
// RSA public key (2048 bits or more) RS256 only, a P-256 public key ES256 only. So a token
// that says HS256 is never checked with the bytes of an RSA public key (the classic
// algorithm-confusion forgery), and `alg: none` matches no key at all.
//
// Several public keys may sit in one PEM file (Jwt:PublicKeyFile), for key rotation: each
// `-----BEGIN PUBLIC KEY-----` block may be preceded by a line `kid: NAME` (or
// `# kid: NAME`), the `kid` a token's header names to pick it. A token without `kid` is
// tried against every key of its algorithm. Certificates (`BEGIN CERTIFICATE`) work too.
//
// Thread safety: built once at start-up, then read-only; verify may run on any number of
// threads at once (OpenSSL EVP_PKEY objects are safe to share for verification).
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace herald::auth {

enum class JwtAlgorithm { HS256, RS256, ES256 };

std::string_view toString(JwtAlgorithm algorithm);

struct JwtKey {
  JwtAlgorithm algorithm = JwtAlgorithm::HS256;
  std::string kid;                  // empty: unnamed (only tokens without `kid` use it)
  std::string secret;               // HS256
  std::shared_ptr<void> publicKey;  // RS256/ES256: an EVP_PKEY, freed with EVP_PKEY_free
};

class JwtKeySet {
 public:
  // Adds an HMAC secret. Throws std::invalid_argument when shorter than 32 bytes: HS256
  // with a short secret is brute-forceable offline from one token.
  void addSecret(std::string secret);
  // Adds every public key (or certificate) of a PEM text; `source` names it in errors.
  // Throws std::invalid_argument for a file with no key, a block OpenSSL cannot read, an
  // RSA key under 2048 bits, an EC key not on P-256, or another key type.
  void addPem(std::string_view pem, const std::string& source);
  // Reads the file and adds its keys (addPem); throws when it cannot be read.
  void addPemFile(const std::string& path);

  const std::vector<JwtKey>& keys() const { return keys_; }
  bool empty() const { return keys_.empty(); }

 private:
  std::vector<JwtKey> keys_;
};

}  // namespace herald::auth
