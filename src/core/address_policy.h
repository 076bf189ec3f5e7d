#pragma once
// Which network addresses Herald may download from on a client's say-so (spec section 7,
// docs/security.md "Downloads"). Outside development an ingest URL must not make the
// server reach into the network it runs in: loopback, private, link-local (with the cloud
// metadata services), carrier-grade NAT, multicast and reserved ranges are refused, also
// when hidden in IPv4-mapped, NAT64 or 6to4 IPv6 forms. Pure: no I/O, so every range is
// unit-tested without sending a packet.
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace herald::core {

enum class AddressKind {
  Public,
  Loopback,     // 127/8, ::1
  Private,      // 10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10
  LinkLocal,    // 169.254/16, fe80::/10
  Metadata,     // cloud instance metadata (169.254.169.254, 100.100.100.200, fd00:ec2::254)
  SharedNat,    // 100.64/10 (carrier-grade NAT)
  Multicast,    // 224/4, ff00::/8, 255.255.255.255
  Unspecified,  // 0/8, ::
  Reserved,     // 192.0.0/24, 198.18/15, 240/4, ::/96, 100::/64, 2001::/32 (Teredo)
};

// The kind of `address`; IPv6 forms that carry an IPv4 address (::ffff:a.b.c.d,
// 64:ff9b::a.b.c.d, 2002:aabb:ccdd::/48) are judged by the address they carry.
AddressKind classifyAddress(const boost::asio::ip::address& address);

// "loopback", "private", "link-local", ... for error messages.
std::string_view describe(AddressKind kind);

// The IP address a URL host stands for without any lookup: an IPv4 literal, an IPv6
// literal with or without brackets, or a legacy numeric form the system resolver would
// accept ("2130706433", "0x7f.1", "127.1"). nullopt for a host name.
std::optional<boost::asio::ip::address> numericHost(std::string_view host);

// Host names that are loopback by definition (RFC 6761): "localhost" and "*.localhost",
// with or without the trailing dot, in any case.
bool isLocalhostName(std::string_view host);

// Why downloading from `host` is refused before any lookup (a literal address that is not
// public, or a localhost name), or nullopt when only the connected address can tell.
std::optional<std::string> refusedHost(std::string_view host);

}  // namespace herald::core
