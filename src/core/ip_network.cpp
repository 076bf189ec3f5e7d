#include "core/ip_network.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace herald::core {

namespace ip = boost::asio::ip;

ip::address unmapped(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return address;
}

namespace {

// The address's bytes, most significant first (4 or 16 of them).
template <class Bytes>
bool hostBitsClear(const Bytes& bytes, int prefixLength) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int first = static_cast<int>(i) * 8;  // index of this byte's first bit
    const int keep = std::clamp(prefixLength - first, 0, 8);
    const auto mask = static_cast<unsigned char>(keep == 8 ? 0 : 0xFFu >> keep);
    if ((bytes[i] & mask) != 0) return false;
  }
  return true;
}

template <class Bytes>
bool samePrefix(const Bytes& a, const Bytes& b, int prefixLength) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    const int first = static_cast<int>(i) * 8;
    const int keep = std::clamp(prefixLength - first, 0, 8);
    if (keep == 0) return true;
    const auto mask = static_cast<unsigned char>(0xFFu << (8 - keep));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

}  // namespace

std::optional<IpNetwork> parseIpNetwork(std::string_view text) {
  const auto slash = text.find('/');
  boost::system::error_code ec;
  auto address = ip::make_address(std::string(text.substr(0, slash)), ec);
  // A zone ("fe80::1%eth0") names an interface, not a network.
  if (ec || (address.is_v6() && address.to_v6().scope_id() != 0)) return std::nullopt;
  const bool mapped = address.is_v6() && address.to_v6().is_v4_mapped();
  const int maxLength = address.is_v4() ? 32 : 128;
  int length = maxLength;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    auto [end, pec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (digits.empty() || pec != std::errc() || end != digits.data() + digits.size() ||
        length < 0 || length > maxLength) {
      return std::nullopt;
    }
  }
  if (mapped) {
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8: the last 32 bits are the IPv4 address.
    if (length < 96) return std::nullopt;
    address = unmapped(address);
    length -= 96;
  }
  const bool clear = address.is_v4() ? hostBitsClear(address.to_v4().to_bytes(), length)
                                     : hostBitsClear(address.to_v6().to_bytes(), length);
  if (!clear) return std::nullopt;
  return IpNetwork{address, length};
}

bool contains(const IpNetwork& network, const ip::address& address) {
  const auto a = unmapped(address);
  if (a.is_v4() != network.base.is_v4()) return false;
  if (a.is_v4())
    return samePrefix(a.to_v4().to_bytes(), network.base.to_v4().to_bytes(), network.prefixLength);
  return samePrefix(a.to_v6().to_bytes(), network.base.to_v6().to_bytes(), network.prefixLength);
}

}  // namespace herald::core
