// parseConnectionString: ConnectionStrings:Default to a StoreLocation. See the header for
// the accepted forms. The rule of thumb: every string is either recognised or refused
// with a reason; none silently becomes a SQLite file named after a MySQL connection string
// (which is what a "bare path unless it says otherwise" parser did).
#include "storage/store_location.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>

namespace herald::storage {
namespace {

constexpr std::string_view kSqliteFileName = "herald.db";

[[noreturn]] void bad(const std::string& what) {
  throw StoreLocationError("connection string: " + what);
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

// "User Id" -> "userid": MySqlConnector ignores case and spaces in key names.
std::string normaliseKey(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (!isSpace(c)) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

// A key=value string starts with a word and '='; a path never does (it has '/', '.' or
// ':' before any '=', or no '=' at all).
bool looksLikeKeyValue(std::string_view cs) {
  auto eq = cs.find('=');
  if (eq == std::string_view::npos) return false;
  auto key = trim(cs.substr(0, eq));
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == ' ' || c == '_';
  });
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// Splits "k=v; k = 'v;w'" into (normalised key, value) pairs.
Pairs splitPairs(std::string_view cs) {
  Pairs out;
  std::size_t i = 0;
  int part = 0;
  while (i < cs.size()) {
    while (i < cs.size() && (cs[i] == ';' || isSpace(cs[i]))) ++i;
    if (i >= cs.size()) break;
    ++part;
    const auto eq = cs.find('=', i);
    const auto semi = cs.find(';', i);
    if (eq == std::string_view::npos || (semi != std::string_view::npos && semi < eq)) {
      bad("part " + std::to_string(part) + " is not key=value");
    }
    std::string key = normaliseKey(cs.substr(i, eq - i));
    i = eq + 1;
    while (i < cs.size() && isSpace(cs[i])) ++i;
    std::string value;
    if (i < cs.size() && (cs[i] == '"' || cs[i] == '\'')) {
      const char quote = cs[i++];
      bool closed = false;
      while (i < cs.size()) {
        if (cs[i] == quote) {
          if (i + 1 < cs.size() && cs[i + 1] == quote) {
            value.push_back(quote);
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        value.push_back(cs[i++]);
      }
      if (!closed) bad("the value of '" + key + "' has no closing quote");
      while (i < cs.size() && isSpace(cs[i])) ++i;
      if (i < cs.size() && cs[i] != ';') bad("text after the quoted value of '" + key + "'");
    } else {
      auto end = cs.find(';', i);
      if (end == std::string_view::npos) end = cs.size();
      value = std::string(trim(cs.substr(i, end - i)));
      i = end;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

int parsePort(std::string_view text) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || port < 1 ||
      port > 65535) {
    bad("the port must be a number from 1 to 65535");
  }
  return port;
}

StoreLocation parseKeyValue(std::string_view cs) {
  const Pairs pairs = splitPairs(cs);
  auto has = [&](std::initializer_list<std::string_view> keys) {
    return std::any_of(pairs.begin(), pairs.end(), [&](const auto& p) {
      return std::find(keys.begin(), keys.end(), p.first) != keys.end();
    });
  };
  StoreLocation loc;
  if (has({"datasource", "filename"})) {
    // MySqlConnector reads "Data Source" as the server; we keep the ADO.NET SQLite meaning
    // (what Herald always accepted) and refuse the mixture rather than guess.
    if (has({"server", "host", "database", "port", "user", "uid", "userid", "username"})) {
      bad("Data Source (SQLite) mixed with MySQL keys; use Server= for MySQL/MariaDB");
    }
    for (const auto& [key, value] : pairs) {
      if (key != "datasource" && key != "filename") {
        bad("key '" + key + "' is not supported for SQLite (only Data Source)");
      }
      loc.sqlitePath = value;
    }
    if (loc.sqlitePath.empty()) bad("Data Source is empty");
    return loc;
  }
  if (!has({"server", "host", "address", "addr", "networkaddress"})) {
    bad("neither Data Source= (SQLite) nor Server= (MySQL/MariaDB) is given");
  }
  loc.kind = StoreLocation::Kind::MySql;
  std::string server;
  bool unixSocket = false;
  for (const auto& [key, value] : pairs) {
    if (key == "server" || key == "host" || key == "address" || key == "addr" ||
        key == "networkaddress") {
      server = value;
    } else if (key == "port") {
      loc.port = parsePort(value);
    } else if (key == "database" || key == "initialcatalog") {
      loc.database = value;
    } else if (key == "user" || key == "uid" || key == "userid" || key == "username") {
      loc.user = value;
    } else if (key == "password" || key == "pwd") {
      loc.password = value;
    } else if (key == "protocol" || key == "connectionprotocol") {
      auto p = lower(value);
      if (p == "unix" || p == "unixsocket") {
        unixSocket = true;
      } else if (p != "tcp" && p != "socket") {
        bad("Protocol must be Tcp or Unix");
      }
    } else {
      loc.options.emplace_back(key, value);
    }
  }
  if (server.empty()) bad("Server is empty");
  if (unixSocket || server.front() == '/') {
    loc.socket = server;
  } else {
    loc.host = server;
  }
  if (loc.database.empty()) bad("a MySQL/MariaDB connection string needs Database=");
  return loc;
}

std::string percentDecode(std::string_view text, std::string_view what) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    if (i + 2 >= text.size() || !hex(text[i + 1]) || !hex(text[i + 2])) {
      bad("bad %-escape in the " + std::string(what));
    }
    int byte = 0;
    std::from_chars(text.data() + i + 1, text.data() + i + 3, byte, 16);
    out.push_back(static_cast<char>(byte));
    i += 2;
  }
  return out;
}

// mysql://user:pass@host:port/db?key=value&...
StoreLocation parseUrl(std::string_view rest) {
  StoreLocation loc;
  loc.kind = StoreLocation::Kind::MySql;
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  // The last '@': an unescaped '@' in a password still leaves the host intact.
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    auto userInfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userInfo.find(':');
    loc.user = percentDecode(userInfo.substr(0, colon), "user");
    if (colon != std::string_view::npos) {
      loc.password = percentDecode(userInfo.substr(colon + 1), "password");
    }
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) bad("unclosed '[' in the host");
    loc.host = std::string(rest.substr(1, close - 1));
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') bad("text after the ']' of the host");
      port = after.substr(1);
      if (port.empty()) bad("the port must be a number from 1 to 65535");
    }
  } else {
    auto colon = rest.rfind(':');
    loc.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) bad("the port must be a number from 1 to 65535");
    }
  }
  if (loc.host.empty()) bad("the URL has no host");
  if (!port.empty()) loc.port = parsePort(port);
  loc.database = percentDecode(path, "database");
  if (loc.database.empty()) bad("the URL has no database (mysql://user:pass@host:port/db)");
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    auto key = normaliseKey(percentDecode(item.substr(0, eq), "option name"));
    auto value =
        eq == std::string_view::npos ? std::string() : percentDecode(item.substr(eq + 1), "option");
    loc.options.emplace_back(std::move(key), std::move(value));
  }
  return loc;
}

}  // namespace

StoreLocation parseConnectionString(std::string_view cs, std::string_view dataDir) {
  cs = trim(cs);
  StoreLocation loc;
  if (cs.empty()) {
    loc.sqlitePath = (std::filesystem::path(dataDir) / kSqliteFileName).string();
    return loc;
  }
  const std::string head = lower(cs.substr(0, std::min<std::size_t>(cs.size(), 12)));
  if (head.rfind("sqlite:", 0) == 0) {
    auto path = cs.substr(7);
    if (path.rfind("//", 0) == 0) path.remove_prefix(2);  // sqlite:///abs/path
    if (path.empty()) bad("sqlite: without a path");
    loc.sqlitePath = std::string(path);
    return loc;
  }
  if (auto sep = cs.find("://"); sep != std::string_view::npos) {
    auto scheme = lower(cs.substr(0, sep));
    const bool isScheme = !scheme.empty() && std::all_of(scheme.begin(), scheme.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    });
    if (isScheme) {
      if (scheme != "mysql" && scheme != "mariadb") {
        bad("unsupported scheme '" + scheme + "' (expected mysql:// or mariadb://)");
      }
      return parseUrl(cs.substr(sep + 3));
    }
  }
  if (looksLikeKeyValue(cs)) return parseKeyValue(cs);
  loc.sqlitePath = std::string(cs);
  return loc;
}

std::string describe(const StoreLocation& location) {
  if (location.kind == StoreLocation::Kind::Sqlite) return "SQLite at " + location.sqlitePath;
  std::string out = "MySQL/MariaDB ";
  if (!location.user.empty()) out.append(location.user).append("@");
  if (!location.socket.empty()) {
    out.append("unix:").append(location.socket);
  } else {
    out.append(location.host).append(":").append(std::to_string(location.port));
  }
  out.append("/").append(location.database);
  return out;
}

}  // namespace herald::storage
