#pragma once
// Works out the principal of an HTTP request. The HTTP server calls it once per parsed
// request; nothing else reads credentials.
//
// Thread safety: implementations are called concurrently from every I/O thread and must
// be safe for that (the anonymous one has no state; a JWT one holds immutable keys).
#include "auth/principal.h"
#include "core/http_types.h"

namespace herald::auth {

class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // Never throws for untrusted input: a missing or bad credential gives an anonymous
  // principal (the route's access policy then decides).
  virtual Principal authenticate(const core::HttpRequest& request) const = 0;
};

// Development (AppSettings:EnableAuth off): reads nothing from the request and answers an
// anonymous principal, so a hub connection has no user id and joins no user group. With
// EnableAuth on, JwtAuthenticator (jwt_authenticator.h) is used instead.
class AnonymousAuthenticator final : public Authenticator {
 public:
  Principal authenticate(const core::HttpRequest& request) const override;
};

}  // namespace herald::auth
