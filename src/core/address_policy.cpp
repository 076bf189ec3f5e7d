// Design: every address is reduced to IPv4 where it carries one, then matched against a
// small table of prefixes. A table (not a chain of ifs) keeps each range reviewable on one
// line, next to the RFC that reserves it.
#include "core/address_policy.h"

#include <arpa/inet.h>

#include <array>
#include <cstdint>

#include "core/strings.h"

namespace herald::core {
namespace {

using boost::asio::ip::address;
using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;

struct V4Range {
  std::uint32_t base;
  int bits;
  AddressKind kind;
};

constexpr std::uint32_t ip4(int a, int b, int c, int d) {
  return (static_cast<std::uint32_t>(a) << 24) | (static_cast<std::uint32_t>(b) << 16) |
         (static_cast<std::uint32_t>(c) << 8) | static_cast<std::uint32_t>(d);
}

// Most specific first: the metadata hosts sit inside link-local and shared-NAT ranges.
constexpr std::array kV4Ranges{
    V4Range{ip4(169, 254, 169, 254), 32, AddressKind::Metadata},   // AWS, GCP, Azure, ...
    V4Range{ip4(100, 100, 100, 200), 32, AddressKind::Metadata},   // Alibaba Cloud
    V4Range{ip4(255, 255, 255, 255), 32, AddressKind::Multicast},  // limited broadcast
    V4Range{ip4(0, 0, 0, 0), 8, AddressKind::Unspecified},         // RFC 1122 "this network"
    V4Range{ip4(10, 0, 0, 0), 8, AddressKind::Private},            // RFC 1918
    V4Range{ip4(100, 64, 0, 0), 10, AddressKind::SharedNat},       // RFC 6598
    V4Range{ip4(127, 0, 0, 0), 8, AddressKind::Loopback},          // RFC 1122
    V4Range{ip4(169, 254, 0, 0), 16, AddressKind::LinkLocal},      // RFC 3927
    V4Range{ip4(172, 16, 0, 0), 12, AddressKind::Private},         // RFC 1918
    V4Range{ip4(192, 0, 0, 0), 24, AddressKind::Reserved},         // RFC 6890 protocol use
    V4Range{ip4(192, 168, 0, 0), 16, AddressKind::Private},        // RFC 1918
    V4Range{ip4(198, 18, 0, 0), 15, AddressKind::Reserved},        // RFC 2544 benchmarks
    V4Range{ip4(224, 0, 0, 0), 4, AddressKind::Multicast},         // RFC 5771
    V4Range{ip4(240, 0, 0, 0), 4, AddressKind::Reserved},          // RFC 1112 future use
};

AddressKind classifyV4(std::uint32_t a) {
  for (const auto& r : kV4Ranges) {
    const std::uint32_t mask = r.bits == 0 ? 0 : ~std::uint32_t{0} << (32 - r.bits);
    if ((a & mask) == r.base) return r.kind;
  }
  return AddressKind::Public;
}

std::uint32_t v4At(const address_v6::bytes_type& b, std::size_t i) {
  return (static_cast<std::uint32_t>(b[i]) << 24) | (static_cast<std::uint32_t>(b[i + 1]) << 16) |
         (static_cast<std::uint32_t>(b[i + 2]) << 8) | static_cast<std::uint32_t>(b[i + 3]);
}

bool zeroes(const address_v6::bytes_type& b, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) {
    if (b[i] != 0) return false;
  }
  return true;
}

AddressKind classifyV6(const address_v6& a) {
  const auto b = a.to_bytes();
  if (a.is_unspecified()) return AddressKind::Unspecified;
  if (a.is_loopback()) return AddressKind::Loopback;
  // ::ffff:a.b.c.d (mapped) reaches a.b.c.d on a dual-stack socket.
  if (a.is_v4_mapped()) return classifyV4(v4At(b, 12));
  // 64:ff9b::/96 (NAT64, RFC 6052) reaches the IPv4 address in its last 32 bits.
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zeroes(b, 4, 12)) {
    return classifyV4(v4At(b, 12));
  }
  // 2002:aabb:ccdd::/48 (6to4, RFC 3056) tunnels to aa.bb.cc.dd.
  if (b[0] == 0x20 && b[1] == 0x02) return classifyV4(v4At(b, 2));
  if (zeroes(b, 0, 12)) return AddressKind::Reserved;  // ::/96, IPv4-compatible (deprecated)
  // fd00:ec2::254: the AWS metadata service over IPv6 (inside fc00::/7).
  if (a == boost::asio::ip::make_address_v6("fd00:ec2::254")) return AddressKind::Metadata;
  if ((b[0] & 0xfe) == 0xfc) return AddressKind::Private;  // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return AddressKind::LinkLocal;  // fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return AddressKind::Private;    // fec0::/10 site
  if (b[0] == 0xff) return AddressKind::Multicast;                           // ff00::/8
  if (b[0] == 0x01 && b[1] == 0x00 && zeroes(b, 2, 8)) return AddressKind::Reserved;  // 100::/64
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) {
    return AddressKind::Reserved;  // 2001::/32 Teredo: the far end hides in the bits
  }
  return AddressKind::Public;
}

}  // namespace

AddressKind classifyAddress(const address& a) {
  if (a.is_v4()) return classifyV4(a.to_v4().to_uint());
  return classifyV6(a.to_v6());
}

std::string_view describe(AddressKind kind) {
  switch (kind) {
    case AddressKind::Public: return "public";
    case AddressKind::Loopback: return "loopback";
    case AddressKind::Private: return "private";
    case AddressKind::LinkLocal: return "link-local";
    case AddressKind::Metadata: return "cloud metadata";
    case AddressKind::SharedNat: return "carrier-grade NAT";
    case AddressKind::Multicast: return "multicast or broadcast";
    case AddressKind::Unspecified: return "unspecified";
    case AddressKind::Reserved: return "reserved";
  }
  return "unknown";
}

std::optional<address> numericHost(std::string_view host) {
  std::string h(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  boost::system::error_code ec;
  // A zone ("fe80::1%eth0") is refused by make_address on some versions: drop it, the
  // address itself decides.
  auto zone = h.find('%');
  auto v6 = boost::asio::ip::make_address_v6(h.substr(0, zone), ec);
  if (!ec) return address(v6);
  // inet_aton accepts exactly the legacy forms getaddrinfo does (decimal, octal, hex,
  // fewer than four parts), which a plain dotted-quad parser would miss.
  in_addr v4{};
  if (!h.empty() && ::inet_aton(h.c_str(), &v4) != 0) return address(address_v4(ntohl(v4.s_addr)));
  return std::nullopt;
}

bool isLocalhostName(std::string_view host) {
  auto h = toLower(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h == "localhost" || h.ends_with(".localhost");
}

std::optional<std::string> refusedHost(std::string_view host) {
  if (isLocalhostName(host)) return std::string(host) + " is a loopback name";
  auto a = numericHost(host);
  if (!a) return std::nullopt;
  auto kind = classifyAddress(*a);
  if (kind == AddressKind::Public) return std::nullopt;
  return a->to_string() + " is a " + std::string(describe(kind)) + " address";
}

}  // namespace herald::core
