#pragma once
// Test-only signing for JWT tests: keys generated with OpenSSL per test run, tokens
// built and signed here (HS256, RS256, ES256), so the verifier is checked against
// independently made signatures.
#include <memory>
#include <string>

#include <openssl/evp.h>

namespace herald::auth::testing {

using PkeyPtr = std::shared_ptr<EVP_PKEY>;

PkeyPtr generateRsa(int bits = 2048);
PkeyPtr generateEc(const char* curve = "P-256");
std::string publicPem(const PkeyPtr& key);

std::string hs256(const std::string& secret, const std::string& input);
std::string rs256(const PkeyPtr& key, const std::string& input);
// r||s, 64 bytes (JWS form), converted from OpenSSL's DER.
std::string es256(const PkeyPtr& key, const std::string& input);

// base64url(header) + "." + base64url(payload) (the signing input).
std::string signingInput(const std::string& headerJson, const std::string& payloadJson);
// signingInput + "." + base64url(signature).
std::string token(const std::string& input, const std::string& signature);

}  // namespace herald::auth::testing
