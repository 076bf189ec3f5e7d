// libFuzzer target: the JWT verifier (base64url, the header and payload JSON, the claims)
// must never crash on any input, and must never accept a token it was not given a valid
// signature for: the fuzzer cannot forge HMAC-SHA256, so any accepted input is a bug.
// The seeds (fuzz/corpus/jwt) are valid tokens signed with kSecret but expired, so the
// mutations reach the claim checks past the signature.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/base64url.h"
#include "auth/jwt_verifier.h"

namespace {

herald::auth::JwtVerifier& verifier() {
  static herald::auth::JwtVerifier v = [] {
    herald::auth::JwtKeySet keys;
    keys.addSecret("herald-fuzz-secret-0123456789abcdef");
    return herald::auth::JwtVerifier(std::move(keys), {"herald-issuer", "herald", {}});
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Far in the future: every seed is expired, so nothing may verify.
  auto result = verifier().verify(input, 4'000'000'000);
  if (result.ok()) __builtin_trap();
  // A second time at the seeds' own time: whatever verifies must carry a subject.
  auto atSeedTime = verifier().verify(input, 1'700'000'000);
  if (atSeedTime.ok() && atSeedTime.claims->subject.empty()) __builtin_trap();
  // base64url: whatever decodes encodes back to the same text (canonical form only).
  if (auto bytes = herald::auth::decodeBase64Url(input)) {
    if (herald::auth::encodeBase64Url(*bytes) != input) __builtin_trap();
  }
  return 0;
}
