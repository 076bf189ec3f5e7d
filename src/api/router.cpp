#include "api/router.h"

#include "api/problem.h"
#include "auth/policy.h"

#include <algorithm>
#include <stdexcept>

#include "api/problem.h"
#include "core/strings.h"

namespace herald::api {

namespace {

// Splits a path into its segments: "/a/b/" gives {"a","b"} (one trailing slash is
// ignored, as ASP.NET Core does), "/" gives none. False for a path that does not start
// with '/' or has an empty segment ("/a//b"), which matches no route.
bool splitPath(std::string_view path, std::vector<std::string_view>& out) {
  out.clear();
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return true;
  for (;;) {
    auto slash = path.find('/');
    auto segment = path.substr(0, slash);
    if (segment.empty()) return false;
    out.push_back(segment);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

bool isParameter(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// Matches split path segments against split pattern segments; `literal(i)` and
// `parameter(i)` describe pattern segment i.
template <class Pattern>
bool matchSegments(const Pattern& pattern, const std::vector<std::string_view>& path,
                   std::size_t maxParamLength, RouteParams* params) {
  if (pattern.size() != path.size()) return false;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const auto& [text, parameter] = pattern[i];
    if (parameter) {
      if (path[i].size() > maxParamLength) return false;
    } else if (!core::iequals(text, path[i])) {
      return false;
    }
  }
  if (params) {
    params->values.clear();
    for (std::size_t i = 0; i < path.size(); ++i) {
      if (pattern[i].second) params->values.emplace_back(pattern[i].first, path[i]);
    }
  }
  return true;
}

// Adds `method` to a comma-separated Allow list unless it is there already.
void addAllowed(std::string& allow, std::string_view method) {
  std::string_view rest = allow;
  while (!rest.empty()) {
    auto comma = rest.find(", ");
    if (rest.substr(0, comma) == method) return;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 2);
  }
  if (!allow.empty()) allow += ", ";
  allow += method;
}

}  // namespace

const std::string& RouteParams::get(std::string_view name) const {
  static const std::string empty;
  for (const auto& [k, v] : values) {
    if (k == name) return v;
  }
  return empty;
}

Router::Router(std::size_t maxParamLength) : maxParamLength_(maxParamLength) {}

void Router::add(Route route) {
  std::vector<std::string_view> parts;
  if (!splitPath(route.pattern, parts)) {
    throw std::invalid_argument("route pattern '" + route.pattern + "' is malformed");
  }
  std::vector<Segment> segments;
  for (auto part : parts) {
    if (isParameter(part)) {
      auto name = part.substr(1, part.size() - 2);
      if (name.find_first_of("{}") != std::string_view::npos) {
        throw std::invalid_argument("route pattern '" + route.pattern + "' is malformed");
      }
      segments.push_back({std::string(name), true});
    } else {
      if (part.find_first_of("{}") != std::string_view::npos) {
        throw std::invalid_argument("route pattern '" + route.pattern + "' is malformed");
      }
      segments.push_back({core::toLower(part), false});
    }
  }
  // Specificity: compared segment by segment from the left, a literal beats a parameter
  // (/videos/ingest before /videos/{id}); equal ones keep the order they were added in.
  auto lessSpecific = [&segments](const std::vector<Segment>& other) {
    for (std::size_t i = 0; i < std::min(other.size(), segments.size()); ++i) {
      if (other[i].parameter != segments[i].parameter) return other[i].parameter;
    }
    return false;
  };
  auto at = std::find_if(compiled_.begin(), compiled_.end(), lessSpecific);
  auto index = at - compiled_.begin();
  compiled_.insert(at, std::move(segments));
  routes_.insert(routes_.begin() + index, std::move(route));
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch m;
  std::vector<std::string_view> parts;
  if (!splitPath(path, parts)) return m;
  struct View {
    const std::vector<Segment>& segments;
    std::size_t size() const { return segments.size(); }
    std::pair<const std::string&, bool> operator[](std::size_t i) const {
      return {segments[i].text, segments[i].parameter};
    }
  };
  std::size_t chosen = routes_.size();
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const auto& route = routes_[i];
    if (!matchSegments(View{compiled_[i]}, parts, maxParamLength_, nullptr)) continue;
    addAllowed(m.allow, route.method);
    if (route.method == "GET") addAllowed(m.allow, "HEAD");
    // Routes are in specificity order: the first whose method fits is the one.
    if (chosen == routes_.size() &&
        (route.method == method || (method == "HEAD" && route.method == "GET"))) {
      chosen = i;
    }
  }
  if (chosen < routes_.size()) {
    m.result = RouteMatch::Result::Matched;
    m.route = &routes_[chosen];
    matchSegments(View{compiled_[chosen]}, parts, maxParamLength_, &m.params);
  } else if (!m.allow.empty()) {
    m.result = RouteMatch::Result::MethodNotAllowed;
  }
  return m;
}

boost::asio::awaitable<std::optional<core::HttpResponse>> Router::dispatch(
    const auth::RequestContext& context) const {
  auto m = match(context.request.method, context.request.path);
  switch (m.result) {
    case RouteMatch::Result::NotFound: co_return std::nullopt;
    case RouteMatch::Result::MethodNotAllowed: co_return methodNotAllowed(m.allow);
    case RouteMatch::Result::Matched: break;
  }
  if (enforceAccess_) {
    switch (auth::decide(m.route->access, context.principal)) {
      case auth::Decision::Allow: break;
      case auth::Decision::Unauthenticated:
        co_return unauthorized(context.principal.credentialRejected);
      case auth::Decision::Forbidden: co_return problem(403, "This operation needs another role.");
    }
  }
  co_return co_await m.route->handler(context, m.params);
}

bool pathMatches(std::string_view pattern, std::string_view path, RouteParams* params,
                 std::size_t maxParamLength) {
  std::vector<std::string_view> patternParts, pathParts;
  if (!splitPath(pattern, patternParts) || !splitPath(path, pathParts)) return false;
  std::vector<std::pair<std::string, bool>> segments;
  segments.reserve(patternParts.size());
  for (auto part : patternParts) {
    if (isParameter(part)) {
      segments.emplace_back(std::string(part.substr(1, part.size() - 2)), true);
    } else {
      segments.emplace_back(std::string(part), false);
    }
  }
  return matchSegments(segments, pathParts, maxParamLength, params);
}

core::HttpResponse methodNotAllowed(const std::string& allow) {
  // "Use GET or POST.": HEAD goes without saying where GET is allowed.
  std::vector<std::string_view> methods;
  std::string_view rest = allow;
  while (!rest.empty()) {
    auto comma = rest.find(", ");
    auto method = rest.substr(0, comma);
    if (method != "HEAD") methods.push_back(method);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 2);
  }
  std::string detail = "Use ";
  for (std::size_t i = 0; i < methods.size(); ++i) {
    if (i > 0) detail += i + 1 == methods.size() ? " or " : ", ";
    detail += methods[i];
  }
  detail += '.';
  auto response = problem(405, std::move(detail));
  response.headers.emplace_back("Allow", allow);
  return response;
}

}  // namespace herald::api
