#include "http/forwarded_for.h"

#include <charconv>
#include <optional>
#include <stdexcept>

namespace herald::http {

namespace ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool isPort(std::string_view digits) {
  unsigned port = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  return !digits.empty() && ec == std::errc() && end == digits.data() + digits.size() &&
         port <= 65535;
}

std::optional<ip::address> parseAddress(std::string_view text) {
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

// One X-Forwarded-For entry: an address, IPv4 with a port, or a bracketed IPv6 address
// with or without a port (what .NET's IPEndPoint.TryParse accepts).
std::optional<ip::address> parseEndpoint(std::string_view entry) {
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = entry.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !isPort(rest.substr(1)))) return std::nullopt;
    auto a = parseAddress(entry.substr(1, close - 1));
    if (a && !a->is_v6()) return std::nullopt;
    return a;
  }
  const auto colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    if (!isPort(entry.substr(colon + 1))) return std::nullopt;
    auto a = parseAddress(entry.substr(0, colon));
    if (a && !a->is_v4()) return std::nullopt;
    return a;
  }
  return parseAddress(entry);
}

// The entry's address, an IPv4-mapped one as its IPv4 address (as peers are judged).
std::optional<ip::address> parseEntry(std::string_view entry) {
  auto a = parseEndpoint(entry);
  if (a) a = core::unmapped(*a);
  return a;
}

}  // namespace

TrustedProxies::TrustedProxies(const std::vector<std::string>& entries) {
  for (const auto& entry : entries) {
    auto network = core::parseIpNetwork(entry);
    if (!network) {
      throw std::invalid_argument("AppSettings:TrustedProxies: '" + entry +
                                  "' is not an IP address or CIDR network");
    }
    networks_.push_back(*network);
  }
}

bool TrustedProxies::trusts(const ip::address& address) const {
  for (const auto& n : networks_) {
    if (core::contains(n, address)) return true;
  }
  return false;
}

ip::address TrustedProxies::clientAddress(const ip::address& peer,
                                          std::string_view forwardedFor) const {
  auto current = core::unmapped(peer);
  auto rest = forwardedFor;
  while (!rest.empty() && trusts(current)) {
    const auto comma = rest.rfind(',');
    const auto entry = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (entry.empty()) continue;  // "a, , b": nothing to take from an empty entry
    auto next = parseEntry(entry);
    if (!next) break;  // not an address: believe nothing further left
    current = *next;
  }
  return current;
}

}  // namespace herald::http
