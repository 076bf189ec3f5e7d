// parseRedisConnectionString: ConnectionStrings:Redis to RedisOptions (forms in the
// header). Every string is either understood whole or refused with a reason: an option
// Herald does not implement is never dropped on the floor (ssl=true over a plain socket
// would send the password in clear to whoever answers).
#include "backplane/redis/redis_options.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace herald::backplane::redis {
namespace {

[[noreturn]] void bad(const std::string& what) {
  throw RedisOptionsError("ConnectionStrings:Redis: " + what);
}

bool isSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool startsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

// A decimal in [min, max]; `what` names the setting in the error (never the value).
int parseInt(std::string_view text, int min, int max, const std::string& what) {
  text = trim(text);
  int value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < min || value > max) {
    bad(what + " must be a whole number from " + std::to_string(min) + " to " +
        std::to_string(max));
  }
  return value;
}

bool parseBool(std::string_view text, const std::string& what) {
  const auto v = lower(trim(text));
  if (v == "true") return true;
  if (v == "false") return false;
  bad(what + " must be true or false");
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percentDecode(std::string_view s, const std::string& what) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) bad(what + " has a truncated %-escape");
    const int hi = hexDigit(s[i + 1]);
    const int lo = hexDigit(s[i + 2]);
    if (hi < 0 || lo < 0) bad(what + " has an invalid %-escape");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// "host", "host:port", "[v6]", "[v6]:port", or a bare IPv6 address (two or more ':').
void parseEndpoint(std::string_view item, RedisOptions& o, const std::string& what) {
  item = trim(item);
  if (item.empty()) bad(what + " is empty");
  std::string_view host;
  std::string_view port;
  if (item.front() == '[') {
    const auto close = item.find(']');
    if (close == std::string_view::npos) bad(what + ": '[' without ']'");
    host = item.substr(1, close - 1);
    auto rest = item.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') bad(what + ": unexpected text after ']'");
      port = rest.substr(1);
      if (port.empty()) bad(what + ": ':' without a port");
    }
  } else {
    const auto colons = std::count(item.begin(), item.end(), ':');
    if (colons == 1) {
      const auto colon = item.find(':');
      host = item.substr(0, colon);
      port = item.substr(colon + 1);
      if (port.empty()) bad(what + ": ':' without a port");
    } else {
      host = item;  // a name, an IPv4 address, or a bare IPv6 address
    }
  }
  if (host.empty()) bad(what + " has no host");
  for (char c : host) {
    // Host names and address literals only: no spaces, controls, '/', '@' or ','.
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '/' || c == '@' || c == ',' || c == '[' || c == ']') {
      bad(what + ": the host has a character a host name cannot have");
    }
  }
  o.host = std::string(host);
  if (!port.empty()) o.port = parseInt(port, 1, 65535, what + "'s port");
}

// One option, by its lower-cased name; `value` as given (trimmed).
void applyOption(const std::string& key, std::string_view value, RedisOptions& o) {
  const std::string what = "option " + key;
  if (key == "password") {
    o.password = std::string(value);
  } else if (key == "user") {
    o.user = std::string(value);
  } else if (key == "defaultdatabase") {
    o.database = parseInt(value, 0, 1 << 20, what);
  } else if (key == "channelprefix") {
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7F) bad(what + " may hold printable characters only");
    }
    o.channelPrefix = std::string(value);
  } else if (key == "name") {
    for (char c : value) {
      // CLIENT SETNAME refuses spaces and newlines; refuse them here, at start.
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7F) bad(what + " may hold printable characters without spaces only");
    }
    o.clientName = std::string(value);
  } else if (key == "abortconnect") {
    o.abortConnect = parseBool(value, what);
  } else if (key == "connecttimeout") {
    o.connectTimeoutMs = parseInt(value, 1, 600'000, what + " (milliseconds)");
  } else if (key == "connectretry") {
    o.connectRetry = parseInt(value, 0, 100, what);
  } else if (key == "ssl") {
    if (parseBool(value, what)) {
      bad("ssl=true is not supported: this build's hiredis (0.14) has no TLS. Reach Redis over "
          "a trusted network or a local TLS tunnel (stunnel, spiped) and set ssl=false");
    }
  } else if (key == "sslhost" || key == "sslprotocols" || key == "checkcertificaterevocation") {
    bad("option " + key + " is a TLS setting, and TLS is not supported (hiredis 0.14)");
  } else if (key == "servicename") {
    bad("option serviceName (Redis Sentinel) is not supported: give the master's host:port");
  } else if (key == "proxy") {
    if (lower(value) != "none") bad("option proxy is not supported (only proxy=None)");
  } else if (key == "protocol") {
    if (lower(value) != "resp2") bad("option protocol: only resp2 is supported");
  } else if (key == "allowadmin" || key == "asynctimeout" || key == "synctimeout" ||
             key == "configcheckseconds" || key == "keepalive" || key == "resolvedns" ||
             key == "version" || key == "setlib" || key == "tiebreaker" || key == "configchannel") {
    // StackExchange.Redis's own tuning: accepted so that its strings work unchanged.
  } else {
    bad("unknown option '" + key + "'");
  }
}

RedisOptions parseStackExchange(std::string_view text) {
  RedisOptions o;
  bool haveEndpoint = false;
  std::size_t start = 0;
  int item = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const auto part = trim(text.substr(start, comma - start));
    start = comma + 1;
    ++item;
    if (part.empty()) continue;  // "host:6379," is accepted, as StackExchange.Redis does
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      if (haveEndpoint) {
        bad("more than one endpoint: Herald connects to one Redis server (no cluster, no "
            "replicas list)");
      }
      parseEndpoint(part, o, "item " + std::to_string(item) + " (an endpoint)");
      haveEndpoint = true;
      continue;
    }
    const auto key = lower(trim(part.substr(0, eq)));
    if (key.empty()) bad("item " + std::to_string(item) + " has '=' without an option name");
    applyOption(key, trim(part.substr(eq + 1)), o);
  }
  if (!haveEndpoint) bad("no endpoint (host:port)");
  return o;
}

RedisOptions parseUri(std::string_view text) {
  RedisOptions o;
  text.remove_prefix(std::string_view("redis://").size());
  if (text.find('#') != std::string_view::npos) bad("a URI fragment ('#') is not allowed");
  // The user information ends at the last '@' (a password's own '/', '?' or ':' need no
  // escaping; an '@' anywhere after it, a query value's included, must be written %40).
  const auto at = text.rfind('@');
  std::string_view userinfo;
  std::string_view rest = text;
  if (at != std::string_view::npos) {
    userinfo = text.substr(0, at);
    rest = text.substr(at + 1);
  }
  const auto authorityEnd = rest.find_first_of("/?");
  const auto authority = rest.substr(0, authorityEnd);
  rest = authorityEnd == std::string_view::npos ? std::string_view() : rest.substr(authorityEnd);
  if (at != std::string_view::npos) {
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      bad("the URI's user information must be :password@ or user:password@");
    }
    o.user = percentDecode(userinfo.substr(0, colon), "the URI's user");
    o.password = percentDecode(userinfo.substr(colon + 1), "the URI's password");
  }
  parseEndpoint(authority, o, "the URI's host");
  std::string_view path = rest;
  std::string_view query;
  if (const auto q = rest.find('?'); q != std::string_view::npos) {
    path = rest.substr(0, q);
    query = rest.substr(q + 1);
  }
  if (!path.empty() && path != "/") {
    o.database = parseInt(path.substr(1), 0, 1 << 20, "the URI's database (/db)");
  }
  std::size_t start = 0;
  while (start < query.size()) {
    auto amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    const auto pair = query.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) bad("a URI query item is not name=value");
    const auto key = lower(percentDecode(pair.substr(0, eq), "a URI option name"));
    const auto value = percentDecode(pair.substr(eq + 1), "option " + key);
    if (key == "db" || key == "database") {
      o.database = parseInt(value, 0, 1 << 20, "option " + key);
    } else {
      applyOption(key, trim(value), o);
    }
  }
  return o;
}

}  // namespace

RedisOptions parseRedisConnectionString(std::string_view text) {
  text = trim(text);
  if (text.empty()) bad("empty");
  if (startsWithNoCase(text, "redis://")) return parseUri(text);
  if (startsWithNoCase(text, "rediss://")) {
    bad("rediss:// (TLS) is not supported: this build's hiredis (0.14) has no TLS. Reach Redis "
        "over a trusted network or a local TLS tunnel and use redis://");
  }
  if (text.find("://") != std::string_view::npos) {
    bad("unknown URI scheme (redis://host:port/db or host:port,password=… are accepted)");
  }
  return parseStackExchange(text);
}

std::string describe(const RedisOptions& o) {
  const bool v6 = o.host.find(':') != std::string::npos;
  std::string out = "redis ";
  if (!o.user.empty()) out += o.user + "@";
  out += v6 ? "[" + o.host + "]" : o.host;
  out += ":" + std::to_string(o.port) + " db " + std::to_string(o.database);
  if (!o.channelPrefix.empty()) out += " channel prefix " + o.channelPrefix;
  return out;
}

}  // namespace herald::backplane::redis
