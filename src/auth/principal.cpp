#include "auth/principal.h"

#include <algorithm>

namespace herald::auth {

bool Principal::hasRole(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

bool Principal::isAdmin() const { return hasRole("admin"); }

}  // namespace herald::auth
