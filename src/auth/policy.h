#pragma once
// Whether a principal may use a route or hub method of a given Access (access.h), once
// authentication is on. Ownership (Access::Owner) is decided by the handler, which knows
// the job or video: here an Owner route only needs a signed-in caller.
#include "auth/access.h"
#include "auth/principal.h"

namespace herald::auth {

enum class Decision {
  Allow,
  Unauthenticated,  // 401: no valid credential
  Forbidden,        // 403: signed in, but not in the role the route needs
};

inline Decision decide(Access access, const Principal& p) {
  if (access == Access::Anonymous) return Decision::Allow;
  if (!p.authenticated) return Decision::Unauthenticated;
  switch (access) {
    case Access::Admin: return p.isAdmin() ? Decision::Allow : Decision::Forbidden;
    case Access::Worker:
      return p.isAdmin() || p.hasRole("worker") ? Decision::Allow : Decision::Forbidden;
    default: return Decision::Allow;
  }
}

// Whether `p` may see a job or video owned by `ownerUserId`: always without
// authentication (`enforced` false, development); else its owner or an admin. Callers
// answer "not found" otherwise, so existence does not leak.
inline bool maySee(bool enforced, const Principal& p, const std::string& ownerUserId) {
  if (!enforced || p.isAdmin()) return true;
  return p.authenticated && !ownerUserId.empty() && ownerUserId == p.userId;
}

}  // namespace herald::auth
