#include "api/problem.h"

#include "core/json_text.h"

namespace herald::api {

namespace {
const char* titleFor(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}
}  // namespace

core::HttpResponse problem(int status, std::string_view detail, boost::json::object errors) {
  boost::json::object o;
  o["type"] = "https://tools.ietf.org/html/rfc9110#section-15";
  o["title"] = titleFor(status);
  o["status"] = status;
  o["detail"] = detail;
  if (!errors.empty()) o["errors"] = std::move(errors);
  core::HttpResponse r;
  r.status = status;
  r.contentType = "application/problem+json; charset=utf-8";
  r.body = core::toJson(o);
  return r;
}

core::HttpResponse jsonResponse(int status, const boost::json::value& body) {
  return jsonTextResponse(status, core::toJson(body));
}

core::HttpResponse jsonTextResponse(int status, std::string body) {
  core::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

core::HttpResponse unauthorized(bool credentialRejected) {
  auto r = problem(401, credentialRejected
                            ? "The access token is invalid or expired."
                            : "This resource needs a bearer token (Authorization: Bearer).");
  r.headers.emplace_back("WWW-Authenticate",
                         credentialRejected ? R"(Bearer error="invalid_token")" : "Bearer");
  r.rejectReason = credentialRejected ? "invalid_token" : "unauthorized";
  return r;
}

}  // namespace herald::api
