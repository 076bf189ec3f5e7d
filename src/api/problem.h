#pragma once
// RFC 7807 problem answers (application/problem+json), the shape ASP.NET Core gives
// for validation failures, so clients can show `detail` as is.
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/http_types.h"

namespace herald::api {

// The detail of the 429 a REST request over Limits:RestRequestsPerUserPerSecond gets (sent
// by http/, described for every /api/ route in the OpenAPI document).
inline constexpr std::string_view kRestRateLimitDetail =
    "Too many requests (Limits:RestRequestsPerUserPerSecond). Retry after the time in "
    "Retry-After.";

core::HttpResponse problem(int status, std::string_view detail, boost::json::object errors = {});
core::HttpResponse jsonResponse(int status, const boost::json::value& body);
// The same with the body already written as JSON text.
core::HttpResponse jsonTextResponse(int status, std::string body);
// 401 with `WWW-Authenticate: Bearer` (and error="invalid_token" when a credential was
// sent and refused, RFC 6750 section 3), as ASP.NET Core's JwtBearer answers.
core::HttpResponse unauthorized(bool credentialRejected);

}  // namespace herald::api
