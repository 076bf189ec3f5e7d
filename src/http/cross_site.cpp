#include "http/cross_site.h"

#include "core/strings.h"

namespace herald::http {

namespace {

// "name:port" -> "name"; "[::1]:80" -> "[::1]".
std::string_view hostName(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  return host.substr(0, host.find(':'));
}

bool endsWithIgnoringCase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && core::iequals(s.substr(s.size() - suffix.size()), suffix);
}

// The authority of an Origin ("http://a.example:8080" -> "a.example:8080"), without the
// scheme's default port, so it compares with a Host header as the browser wrote it.
std::string_view originAuthority(std::string_view origin) {
  const auto sep = origin.find("://");
  if (sep == std::string_view::npos) return {};
  auto scheme = origin.substr(0, sep);
  auto authority = origin.substr(sep + 3);
  if (core::iequals(scheme, "http") && endsWithIgnoringCase(authority, ":80")) {
    authority.remove_suffix(3);
  } else if (core::iequals(scheme, "https") && endsWithIgnoringCase(authority, ":443")) {
    authority.remove_suffix(4);
  }
  return authority;
}

std::string_view withoutDefaultPort(std::string_view host) {
  if (endsWithIgnoringCase(host, ":80")) host.remove_suffix(3);
  if (endsWithIgnoringCase(host, ":443")) host.remove_suffix(4);
  return host;
}

}  // namespace

bool hostAllowed(const std::vector<std::string>& allowedHosts, std::string_view host) {
  const auto name = hostName(host);
  for (const auto& entry : allowedHosts) {
    if (entry == "*") return true;
    if (entry.rfind("*.", 0) == 0) {
      // "*.example.com" matches "a.example.com", not "example.com" (as ASP.NET Core).
      const std::string_view suffix = std::string_view(entry).substr(1);
      if (name.size() > suffix.size() && endsWithIgnoringCase(name, suffix)) return true;
      continue;
    }
    if (core::iequals(entry, name)) return true;
  }
  return false;
}

bool originAllowed(const std::vector<std::string>& allowedOrigins,
                   const core::HttpRequest& request) {
  const auto origin = request.header("origin");
  if (!origin) return true;
  for (const auto& o : allowedOrigins) {
    std::string_view candidate = o;
    while (!candidate.empty() && candidate.back() == '/') candidate.remove_suffix(1);
    if (candidate == "*" || core::iequals(candidate, *origin)) return true;
  }
  // The server's own pages (test-signalr.html, the dashboard) are same-origin: their
  // Origin names the host and port the Host header does. "null" (sandboxed frames,
  // file:// pages) names no host and matches only when listed.
  const auto authority = originAuthority(*origin);
  const auto host = request.header("host");
  return !authority.empty() && host && core::iequals(authority, withoutDefaultPort(*host));
}

bool isStateChanging(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

bool jsonBodyType(const core::HttpRequest& request) {
  const auto type = request.header("content-type");
  if (!type) return request.body.empty();
  std::string_view media = *type;
  media = media.substr(0, media.find(';'));
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  return core::iequals(media, "application/json") || endsWithIgnoringCase(media, "+json");
}

}  // namespace herald::http
