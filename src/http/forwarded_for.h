#pragma once
// The client behind trusted reverse proxies (AppSettings:TrustedProxies): a proxy such as
// nginx connects to Herald itself and names the client it speaks for in
// X-Forwarded-For. That header is believed only from a peer the operator listed as a
// proxy; from anyone else it is the client's own claim and is ignored, or one client
// could pose as many addresses and slip past the per-address limits.
//
// Thread safety: built once at start-up, then read-only.
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "core/ip_network.h"

namespace herald::http {

class TrustedProxies {
 public:
  TrustedProxies() = default;
  // `entries`: addresses or CIDR networks (core::parseIpNetwork). Throws
  // std::invalid_argument naming the first one that is neither (config loading refused it
  // already; this is the second line of defence).
  explicit TrustedProxies(const std::vector<std::string>& entries);

  bool empty() const { return networks_.empty(); }
  bool trusts(const boost::asio::ip::address& address) const;

  // The client address behind `peer`, as ASP.NET Core's ForwardedHeaders middleware works
  // it out: `forwardedFor` (the X-Forwarded-For values, comma-separated, in the order the
  // proxies appended them) is read from the right; while the address at hand (first the
  // peer) is a trusted proxy, the entry it appended becomes the address at hand. So the
  // answer is the right-most address no trusted proxy vouches for beyond, and whatever a
  // client wrote to the left of it is never believed. An entry that is not an address
  // ("unknown", a host name) stops the walk where it is. Entries may carry a port
  // ("203.0.113.7:5123", "[2001:db8::1]:443").
  boost::asio::ip::address clientAddress(const boost::asio::ip::address& peer,
                                         std::string_view forwardedFor) const;

 private:
  std::vector<core::IpNetwork> networks_;
};

}  // namespace herald::http
