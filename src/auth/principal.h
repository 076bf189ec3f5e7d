#pragma once
// The principal: who is behind an HTTP request or a hub connection. Filled once per
// request by an Authenticator (http/http_server.cpp) and, for a hub connection, copied
// from its negotiate request (or its WebSocket upgrade, when negotiation is skipped).
//
// Thread safety: a plain value type with no shared state; a const Principal may be read
// from any number of threads, and copies are independent.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald::auth {

struct Principal {
  // The user id (JWT `sub`); empty for an anonymous principal.
  std::string userId;
  // Role names as the token gave them (JWT `role`/`roles`); compared case-sensitively,
  // as ASP.NET Core's IsInRole does.
  std::vector<std::string> roles;
  // True only when a credential was verified. Without authentication (development)
  // every principal is anonymous: no user id, no roles, not authenticated.
  bool authenticated = false;
  // When the credential stops being valid (JWT `exp`, Unix seconds); 0: never (a worker
  // API key, or no credential). A hub connection is closed at this moment (allowReconnect).
  std::int64_t expiresAt = 0;
  // True when the principal comes from a worker API key (Workers:ApiKeys), not a token.
  bool apiKey = false;
  // True when a credential was sent but refused (bad signature, expired, unknown key...):
  // the 401 then says error="invalid_token", as ASP.NET Core's JwtBearer does.
  bool credentialRejected = false;

  bool hasRole(std::string_view role) const;
  // Role `admin` sees and manages every job and video (spec section 7).
  bool isAdmin() const;

  // Who a worker is, for "a worker reports only to jobs it created or claimed": the
  // creator (job runner) and lease owner stored for jobs taken through the worker API.
  // Prefixed so that a token's `sub` can never pass for an API key's name or back.
  std::string actorId() const { return (apiKey ? "key:" : "user:") + userId; }

  static Principal anonymous() { return {}; }
};

}  // namespace herald::auth
