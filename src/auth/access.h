#pragma once
// Who may use a route: the access policy each REST route declares (api/rest_api.cpp).
// Enforced by auth/policy.h when AppSettings:EnableAuth is on; without it (development)
// every principal is anonymous and every route is open.
#include <string_view>

namespace herald::auth {

enum class Access {
  Anonymous,      // anyone, with or without a token (health, metrics, connection info)
  Authenticated,  // any verified user (ingest: the job is theirs)
  Owner,          // the user owning the job or video, or an admin; others get 404
  Worker,         // an external worker: role `worker` or `admin`, or a worker API key
  Admin,          // role `admin` only
};

constexpr std::string_view toString(Access access) {
  switch (access) {
    case Access::Anonymous: return "Anonymous";
    case Access::Authenticated: return "Authenticated";
    case Access::Owner: return "Owner";
    case Access::Worker: return "Worker";
    case Access::Admin: return "Admin";
  }
  return "Unknown";
}

}  // namespace herald::auth
