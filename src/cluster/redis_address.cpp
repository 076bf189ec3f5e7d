#include "cluster/redis_address.h"

#include <charconv>
#include <stdexcept>

#include "core/strings.h"

namespace herald::cluster {

namespace {

int parsePort(const std::string& text) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535) {
    throw std::invalid_argument("ConnectionStrings:Redis: port '" + text + "' is not 1-65535");
  }
  return port;
}

// "host", "host:port" or "[v6]:port".
void parseEndpoint(const std::string& text, RedisAddress& out) {
  if (text.empty()) throw std::invalid_argument("ConnectionStrings:Redis: no host");
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos) {
      throw std::invalid_argument("ConnectionStrings:Redis: unclosed '[' in the host");
    }
    out.host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') throw std::invalid_argument("ConnectionStrings:Redis: bad host");
      out.port = parsePort(text.substr(close + 2));
    }
    return;
  }
  auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    out.host = text;
  } else {
    out.host = text.substr(0, colon);
    out.port = parsePort(text.substr(colon + 1));
  }
  if (out.host.empty()) throw std::invalid_argument("ConnectionStrings:Redis: no host");
}

int parseDatabase(const std::string& text) {
  int db = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), db);
  if (ec != std::errc() || end != text.data() + text.size() || db < 0 || db > 1000) {
    throw std::invalid_argument("ConnectionStrings:Redis: database '" + text +
                                "' is not a small number");
  }
  return db;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

RedisAddress parseRedisAddress(const std::string& text) {
  RedisAddress out;
  if (text.rfind("redis://", 0) == 0 || text.rfind("rediss://", 0) == 0) {
    if (text.rfind("rediss://", 0) == 0) {
      throw std::invalid_argument("ConnectionStrings:Redis: rediss:// (TLS) is not supported");
    }
    auto rest = text.substr(8);
    auto slash = rest.find('/');
    std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    auto at = rest.rfind('@');
    if (at != std::string::npos) {
      auto userInfo = rest.substr(0, at);
      auto colon = userInfo.find(':');
      out.password = colon == std::string::npos ? userInfo : userInfo.substr(colon + 1);
      rest = rest.substr(at + 1);
    }
    parseEndpoint(rest, out);
    if (!path.empty()) out.database = parseDatabase(path);
    return out;
  }
  // StackExchange.Redis: endpoints and key=value options separated by commas.
  bool haveEndpoint = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    auto item = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string::npos) {
      if (haveEndpoint) {
        throw std::invalid_argument(
            "ConnectionStrings:Redis: several endpoints are not supported (one Redis)");
      }
      parseEndpoint(item, out);
      haveEndpoint = true;
      continue;
    }
    auto key = core::toLower(trim(item.substr(0, eq)));
    auto value = trim(item.substr(eq + 1));
    if (key == "password") {
      out.password = value;
    } else if (key == "ssl") {
      if (core::iequals(value, "true")) {
        throw std::invalid_argument("ConnectionStrings:Redis: ssl=true (TLS) is not supported");
      }
    } else if (key == "defaultdatabase") {
      out.database = parseDatabase(value);
    }
    // Other StackExchange.Redis options (abortConnect, connectTimeout, ...) tune a client
    // this is not; they are accepted and mean nothing here.
  }
  if (!haveEndpoint) throw std::invalid_argument("ConnectionStrings:Redis: no host:port");
  return out;
}

}  // namespace herald::cluster
