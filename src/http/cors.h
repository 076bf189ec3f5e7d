#pragma once
// CORS for browsers on other origins (spec section 7): only origins listed in
// AppSettings:AllowedOrigins get the headers, with credentials allowed, because the
// SignalR JS client sends requests withCredentials. A `*` entry allows any origin (it
// is still echoed, never sent as `*`, which browsers refuse with credentials).
#include <string>
#include <utility>
#include <vector>

#include "core/http_types.h"

namespace herald::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Headers to add to an actual response; empty when the request has no allowed Origin.
HeaderList corsHeaders(const std::vector<std::string>& allowedOrigins,
                       const core::HttpRequest& request);

// The answer to an OPTIONS preflight: 204, with the CORS headers when allowed.
core::HttpResponse preflight(const std::vector<std::string>& allowedOrigins,
                             const core::HttpRequest& request);

}  // namespace herald::http
