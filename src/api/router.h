#pragma once
// A route table for HTTP requests: each row is a method, a path pattern, the access
// policy it declares, a one-line summary, its handler and its documentation (route_doc.h),
// from which the OpenAPI document is generated (openapi.h).
//
// Paths match as ASP.NET Core matches them: literal segments case-insensitively, with or
// without one trailing slash. A `{name}` segment captures one non-empty segment of at most
// `maxParamLength` characters, kept as sent (ids are case-sensitive); a longer one does
// not match, so it ends in a 404. Among the routes whose pattern matches a path, the most
// specific (a literal segment before a parameter, from the left) with the request's method
// wins; HEAD is served by a GET route. When patterns match but no method does, the answer
// is 405 with `Allow` listing those routes' methods.
//
// Thread safety: add() routes before serving; after that the router is read-only and
// match()/dispatch() may run on any number of threads at once.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/route_doc.h"
#include "auth/access.h"
#include "auth/request_context.h"
#include "core/http_types.h"

namespace herald::api {

// The `{name}` captures of a matched pattern, in pattern order.
struct RouteParams {
  std::vector<std::pair<std::string, std::string>> values;
  // The value captured as `name`; empty when the pattern has no such parameter.
  const std::string& get(std::string_view name) const;
};

using RouteHandler = std::function<boost::asio::awaitable<core::HttpResponse>(
    const auth::RequestContext& context, const RouteParams& params)>;

struct Route {
  std::string method;   // upper case, as sent on the request line: "GET", "POST", ...
  std::string pattern;  // "/api/v1/jobs/{id}/progress"
  auth::Access access = auth::Access::Anonymous;
  std::string summary;  // one line, for the OpenAPI description
  RouteHandler handler;
  RouteDoc doc;  // operation id, parameters, body, every answer with schema and example
};

struct RouteMatch {
  enum class Result { Matched, MethodNotAllowed, NotFound };
  Result result = Result::NotFound;
  const Route* route = nullptr;  // Matched: the route to run (owned by the router)
  RouteParams params;            // Matched: its captures
  // Matched or MethodNotAllowed: every method the matching patterns take, HEAD after GET
  // ("GET, HEAD, POST"), for an Allow header.
  std::string allow;
};

class Router {
 public:
  // Captures longer than this never match (the REST API's ids are at most 128 characters).
  static constexpr std::size_t kDefaultMaxParamLength = 128;

  explicit Router(std::size_t maxParamLength = kDefaultMaxParamLength);

  // Adds a row. Throws std::invalid_argument for a pattern that does not start with '/',
  // has an empty segment or a malformed `{name}`.
  void add(Route route);

  RouteMatch match(std::string_view method, std::string_view path) const;

  // Runs the matching route's handler with its captures; a 405 problem answer (with
  // `Allow`) when only the method differs; nullopt when no pattern matches the path.
  boost::asio::awaitable<std::optional<core::HttpResponse>> dispatch(
      const auth::RequestContext& context) const;

  // With authentication on: each row's Access is checked before its handler runs (401
  // with WWW-Authenticate for no valid credential, 403 for a missing role).
  void enforceAccess(bool on) { enforceAccess_ = on; }

  // Rows in match order (most specific first, then as added).
  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Segment {
    std::string text;  // a literal (lower case) or the parameter's name
    bool parameter;
  };
  std::vector<std::vector<Segment>> compiled_;  // parallel to routes_
  std::vector<Route> routes_;
  std::size_t maxParamLength_;
  bool enforceAccess_ = false;
};

// True when `path` matches `pattern` under the router's rules (case-insensitive literals,
// optional trailing slash); fills `params` with the captures when given. Used for paths
// outside the table too (the hub's).
bool pathMatches(std::string_view pattern, std::string_view path, RouteParams* params = nullptr,
                 std::size_t maxParamLength = Router::kDefaultMaxParamLength);

// 405 problem answer naming the allowed methods ("Use GET or POST."), with `Allow`.
core::HttpResponse methodNotAllowed(const std::string& allow);

}  // namespace herald::api
