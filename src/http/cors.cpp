#include "http/cors.h"

#include "core/strings.h"

namespace herald::http {

namespace {

bool allowed(const std::vector<std::string>& origins, const std::string& origin) {
  for (const auto& o : origins) {
    std::string candidate = o;
    while (!candidate.empty() && candidate.back() == '/') candidate.pop_back();
    if (candidate == "*" || core::iequals(candidate, origin)) return true;
  }
  return false;
}

}  // namespace

HeaderList corsHeaders(const std::vector<std::string>& allowedOrigins,
                       const core::HttpRequest& request) {
  HeaderList out;
  auto origin = request.header("origin");
  if (!origin || !allowed(allowedOrigins, *origin)) return out;
  out.emplace_back("Access-Control-Allow-Origin", *origin);
  out.emplace_back("Access-Control-Allow-Credentials", "true");
  out.emplace_back("Access-Control-Expose-Headers", "Location");
  out.emplace_back("Vary", "Origin");
  return out;
}

core::HttpResponse preflight(const std::vector<std::string>& allowedOrigins,
                             const core::HttpRequest& request) {
  core::HttpResponse res;
  res.status = 204;
  res.contentType.clear();
  auto origin = request.header("origin");
  if (!origin || !allowed(allowedOrigins, *origin)) return res;
  res.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  // Echo what the browser asks for: the JS client's own headers plus any the app adds.
  auto requested = request.header("access-control-request-headers");
  res.headers.emplace_back(
      "Access-Control-Allow-Headers",
      requested && !requested->empty()
          ? *requested
          : std::string("x-requested-with, x-signalr-user-agent, authorization, content-type"));
  res.headers.emplace_back("Access-Control-Max-Age", "600");
  return res;
}

}  // namespace herald::http
