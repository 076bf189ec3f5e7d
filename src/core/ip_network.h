#pragma once
// IP networks written as an address or in CIDR notation ("10.0.0.5", "10.0.0.0/8",
// "fd00::/8"), and whether an address lies in one: the trusted reverse proxies of
// AppSettings:TrustedProxies. Pure: no I/O.
#include <optional>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace herald::core {

struct IpNetwork {
  boost::asio::ip::address base;  // host bits zero
  int prefixLength = 0;           // 0-32 (IPv4) or 0-128 (IPv6)
};

// Parses "ADDRESS" (a single host: /32 or /128) or "ADDRESS/LENGTH". nullopt when it is
// neither, or when bits past the prefix are set ("10.0.0.1/8" is a typo for either the
// host or the network, and guessing which would trust the wrong peers). An IPv4-mapped
// IPv6 address (::ffff:10.0.0.1) is taken as its IPv4 address, as peers are.
std::optional<IpNetwork> parseIpNetwork(std::string_view text);

// Whether `address` lies in `network`; an IPv4-mapped IPv6 address is judged by its IPv4
// address (a dual-stack socket reports IPv4 peers that way).
bool contains(const IpNetwork& network, const boost::asio::ip::address& address);

// `address` with an IPv4-mapped IPv6 address turned into its IPv4 address.
boost::asio::ip::address unmapped(const boost::asio::ip::address& address);

}  // namespace herald::core
