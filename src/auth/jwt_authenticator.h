#pragma once
// The authenticator of AppSettings:EnableAuth=true: a JWT bearer token (jwt_verifier.h)
// or a worker API key (Workers:ApiKeys).
//
// Where credentials are read (as ASP.NET Core's JwtBearer with the SignalR recipe):
//   - `Authorization: Bearer <token>` on any request;
//   - `X-Api-Key: <key>` (worker API keys only);
//   - the `access_token` query parameter, on the hub's paths only (/hubs/...): browsers
//     cannot set headers on WebSockets and EventSource, so the SignalR client puts the
//     token there (and, in @microsoft/signalr 7, on long-polling GETs too).
// A bearer value that equals a worker API key gives a worker principal (role `worker`,
// user id `key-<first 8 hex digits of its SHA-256>`), otherwise it must be a valid JWT.
// Anything sent and refused gives an anonymous principal with credentialRejected set.
// A token verified once is remembered per thread until it expires (256 at most), so a
// worker or a long-polling client that sends the same token each time pays for one
// verification, not one per request (docs/performance.md).
//
// API keys are kept only as SHA-256 digests (a key configured as `sha256:<hex>` never
// exists in clear in the process) and compared in constant time (CRYPTO_memcmp).
//
// Thread safety: immutable after construction; authenticate runs on every I/O thread.
#include <array>
#include <functional>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "auth/jwt_verifier.h"

namespace herald::auth {

class JwtAuthenticator final : public Authenticator {
 public:
  using Digest = std::array<unsigned char, 32>;
  using Clock = std::function<std::int64_t()>;  // Unix seconds

  // `apiKeys`: each a key in clear or `sha256:<64 hex digits>`; throws
  // std::invalid_argument for a malformed hash or a clear key under 16 characters.
  JwtAuthenticator(JwtVerifier verifier, const std::vector<std::string>& apiKeys, Clock clock = {});

  Principal authenticate(const core::HttpRequest& request) const override;

  // The digest form of a configured key (exposed for tests).
  static Digest digestOf(std::string_view key);

 private:
  Principal fromToken(std::string_view token) const;
  // The principal of an API key, if `value` is one.
  std::optional<Principal> fromApiKey(std::string_view value) const;

  JwtVerifier verifier_;
  std::vector<Digest> apiKeys_;
  Clock clock_;
  std::int64_t skewSeconds_;  // the verifier's, for re-checking a cached token's expiry
  std::uint64_t instanceId_;  // keys the per-thread cache of verified tokens
};

}  // namespace herald::auth
