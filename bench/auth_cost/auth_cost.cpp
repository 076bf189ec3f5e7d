// What authenticating one HTTP request costs: the JWT verifier on an HS256, an RS256 and
// an ES256 token, and a worker API key, each N times. Run it under callgrind for counts
// that do not depend on the machine's load (docs/performance.md):
//
//   g++ -std=c++20 -O2 -g -Isrc -Itests/unit/auth bench/auth_cost/auth_cost.cpp \
//       tests/unit/auth/jwt_test_keys.cpp build/src/auth/libherald_auth.a \
//       build/src/core/libherald_core.a -lboost_json -lcrypto -o /tmp/auth_cost
//   valgrind --tool=callgrind --toggle-collect='*measure*' /tmp/auth_cost hs256 1000
//
// (instructions / 1000 = one verification). Without an argument it prints wall-clock
// microseconds per call of each kind.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "auth/jwt_authenticator.h"
#include "jwt_test_keys.h"

using namespace herald::auth;
using namespace herald::auth::testing;

namespace {

const std::string kSecret = "bench-secret-0123456789abcdef0123456789";
const std::string kApiKey = "bench-worker-api-key-0123456789";

__attribute__((noinline)) int measure(const JwtAuthenticator& a, const herald::core::HttpRequest& r,
                                      int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += a.authenticate(r).authenticated ? 1 : 0;
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  auto rsa = generateRsa();
  auto ec = generateEc();
  JwtKeySet keys;
  keys.addSecret(kSecret);
  keys.addPem(publicPem(rsa) + publicPem(ec), "bench");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  JwtAuthenticator a(JwtVerifier(std::move(keys), {"herald", "herald", std::chrono::seconds(30)}),
                     {kApiKey});
  const std::string payload =
      R"({"sub":"bench-user","role":"admin","iss":"herald","aud":"herald","exp":)" +
      std::to_string(now + 3600) + "}";
  auto tokenFor = [&](const char* kind) {
    const std::string k = kind;
    if (k == "key") return kApiKey;
    auto in = signingInput(std::string(R"({"alg":")") +
                               (k == "hs256"   ? "HS256"
                                : k == "rs256" ? "RS256"
                                               : "ES256") +
                               "\"}",
                           payload);
    return token(in, k == "hs256"   ? hs256(kSecret, in)
                     : k == "rs256" ? rs256(rsa, in)
                                    : es256(ec, in));
  };
  auto requestWith = [](const std::string& t) {
    herald::core::HttpRequest r;
    r.path = "/api/v1/jobs/x/progress";
    r.headers["authorization"] = "Bearer " + t;
    return r;
  };
  if (argc >= 3) {
    const int n = std::atoi(argv[2]);
    const int ok = measure(a, requestWith(tokenFor(argv[1])), n);
    std::printf("%s: %d of %d authenticated\n", argv[1], ok, n);
    return ok == n ? 0 : 1;
  }
  for (const char* kind : {"hs256", "rs256", "es256", "key"}) {
    const auto r = requestWith(tokenFor(kind));
    constexpr int kN = 2000;
    const auto t0 = std::chrono::steady_clock::now();
    const int ok = measure(a, r, kN);
    const auto us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-6s %.1f us per request (%d/%d authenticated)\n", kind, us / kN, ok, kN);
  }
  return 0;
}
