#pragma once
// Defences against requests a browser makes on another site's behalf (docs/security.md,
// "Cross-site requests"). CORS only decides whether a page may READ an answer; these
// decide whether the server ACTS on a request at all:
//   - the Host header must name this server (AppSettings:AllowedHosts), so a page on an
//     attacker's DNS name that rebinds to this server's address is refused;
//   - a request carrying an Origin that is neither this server's own (same host as the
//     Host header) nor listed in AppSettings:AllowedOrigins may not open or use a hub
//     connection or change anything through the REST API (a WebSocket upgrade is never
//     subject to CORS, and a `text/plain` POST needs no preflight);
//   - a state-changing REST request with a body must say application/json, which no
//     form or preflight-free request can.
// Requests without an Origin (non-browser clients: the Node and .NET SignalR clients,
// curl, workers) pass the Origin test.
#include <string>
#include <string_view>
#include <vector>

#include "core/http_types.h"

namespace herald::http {

// `host` is the Host header's value ("name", "name:port", "[v6]:port"). Entries are
// lower-case names, `*` or `*.domain` (any subdomain of domain, not domain itself).
bool hostAllowed(const std::vector<std::string>& allowedHosts, std::string_view host);

// True when the request has no Origin, or its Origin is this server's (its host and port
// are the Host header's) or in `allowedOrigins` (`*` allows any).
bool originAllowed(const std::vector<std::string>& allowedOrigins,
                   const core::HttpRequest& request);

// GET, HEAD and OPTIONS change nothing.
bool isStateChanging(std::string_view method);

// A state-changing REST request's body type is acceptable: application/json (any
// parameters, or a +json type), or no body and no Content-Type at all.
bool jsonBodyType(const core::HttpRequest& request);

}  // namespace herald::http
