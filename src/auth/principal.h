#pragma once
// The principal: who is behind an HTTP request or a hub connection. Filled once per
// request by an Authenticator (http/http_server.cpp) and, for a hub connection, copied
// from its negotiate request (or its WebSocket upgrade, when negotiation is skipped).
//
// Thread safety: a plain value type with no shared state; a const Principal may be read
// from any number of threads, and copies are independent.
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

  bool hasRole(std::string_view role) const;
  // Role `admin` sees and manages every job and video (spec section 7).
  bool isAdmin() const;

  static Principal anonymous() { return {}; }
};

}  // namespace herald::auth
