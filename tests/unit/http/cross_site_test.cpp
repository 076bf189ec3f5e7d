// The cross-site rules (docs/security.md, "Cross-site requests"): Host names, Origins and
// body types, case by case. The e2e suite (cross_site.test.mjs) checks where they apply.
#include <gtest/gtest.h>

#include "http/cross_site.h"

using namespace herald;
using herald::http::hostAllowed;
using herald::http::jsonBodyType;
using herald::http::originAllowed;

namespace {
core::HttpRequest requestWith(std::map<std::string, std::string> headers, std::string body = {}) {
  core::HttpRequest r;
  r.method = "POST";
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}
}  // namespace

TEST(CrossSiteHost, NamesWildcardsAndPorts) {
  const std::vector<std::string> hosts = {"localhost", "127.0.0.1", "[::1]", "*.apps.example"};
  EXPECT_TRUE(hostAllowed(hosts, "localhost"));
  EXPECT_TRUE(hostAllowed(hosts, "LocalHost:5000"));
  EXPECT_TRUE(hostAllowed(hosts, "127.0.0.1:80"));
  EXPECT_TRUE(hostAllowed(hosts, "[::1]:5000"));
  EXPECT_TRUE(hostAllowed(hosts, "a.apps.example"));
  EXPECT_TRUE(hostAllowed(hosts, "b.a.apps.example:8443"));
  EXPECT_FALSE(hostAllowed(hosts, "apps.example"));  // a wildcard covers subdomains only
  EXPECT_FALSE(hostAllowed(hosts, "evil.example"));
  EXPECT_FALSE(hostAllowed(hosts, "localhost.evil.example"));
  EXPECT_FALSE(hostAllowed(hosts, "127.0.0.1.evil.example:5000"));
  EXPECT_FALSE(hostAllowed(hosts, "xapps.example"));
  EXPECT_TRUE(hostAllowed({"*"}, "anything.example:1"));
}

TEST(CrossSiteOrigin, AbsentOwnOrListed) {
  const std::vector<std::string> listed = {"http://app.example", "https://b.example:8443/"};
  EXPECT_TRUE(originAllowed(listed, requestWith({{"host", "127.0.0.1:5000"}})));
  // The server's own pages: the Origin names the Host header's host and port.
  EXPECT_TRUE(originAllowed(
      listed, requestWith({{"origin", "http://127.0.0.1:5000"}, {"host", "127.0.0.1:5000"}})));
  EXPECT_TRUE(originAllowed(
      listed, requestWith({{"origin", "http://herald.example"}, {"host", "herald.example:80"}})));
  EXPECT_TRUE(originAllowed(
      listed, requestWith({{"origin", "https://herald.example:443"}, {"host", "herald.example"}})));
  EXPECT_FALSE(originAllowed(
      listed, requestWith({{"origin", "http://127.0.0.1:5001"}, {"host", "127.0.0.1:5000"}})));
  // Listed ones (a trailing slash in the setting is ignored), exactly.
  EXPECT_TRUE(originAllowed(
      listed, requestWith({{"origin", "http://app.example"}, {"host", "127.0.0.1:5000"}})));
  EXPECT_TRUE(originAllowed(
      listed, requestWith({{"origin", "https://b.example:8443"}, {"host", "127.0.0.1:5000"}})));
  for (const char* origin : {"http://evil.example", "http://app.example.evil.example",
                             "https://app.example", "http://app.example:81", "null", ""}) {
    EXPECT_FALSE(originAllowed(listed, requestWith({{"origin", origin}, {"host", "127.0.0.1"}})))
        << origin;
  }
  EXPECT_FALSE(originAllowed(listed, requestWith({{"origin", "http://127.0.0.1:5000"}})))
      << "no Host to be the same as";
  EXPECT_TRUE(originAllowed({"*"}, requestWith({{"origin", "null"}})));
}

TEST(CrossSiteBody, JsonOrNothing) {
  EXPECT_TRUE(jsonBodyType(requestWith({{"content-type", "application/json"}}, "{}")));
  EXPECT_TRUE(
      jsonBodyType(requestWith({{"content-type", "Application/JSON; charset=utf-8"}}, "{}")));
  EXPECT_TRUE(jsonBodyType(requestWith({{"content-type", "application/merge-patch+json"}}, "{}")));
  EXPECT_TRUE(jsonBodyType(requestWith({})));  // no body, no type: a bodyless POST
  EXPECT_FALSE(jsonBodyType(requestWith({}, "{}")));
  EXPECT_FALSE(jsonBodyType(requestWith({{"content-type", "text/plain"}}, "{}")));
  EXPECT_FALSE(jsonBodyType(requestWith({{"content-type", "text/plain"}})));
  EXPECT_FALSE(jsonBodyType(requestWith({{"content-type", "application/x-www-form-urlencoded"}})));
  EXPECT_FALSE(jsonBodyType(requestWith({{"content-type", "multipart/form-data; boundary=x"}})));
  EXPECT_FALSE(jsonBodyType(requestWith({{"content-type", "application/jsonx"}}, "{}")));
}
