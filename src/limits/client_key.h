#pragma once
// Who a limit counts: the key of a peer's address, and of a caller (user or address).
#include <string>

namespace herald::limits {

// An IPv4 address as it is; an IPv6 address by its /64 prefix ("2001:db8:1:2::/64"),
// since one host is commonly given a whole /64 and could otherwise take a fresh address
// per request. An IPv4-mapped IPv6 address counts as its IPv4 address. Text that is not
// an address is used as it is.
std::string ipKey(const std::string& address);

// The key of per-user limits: the user's id when the caller is authenticated, else its
// address's key (an anonymous caller is known only by where it comes from). The two kinds
// never collide ("user:" and "ip:" prefixes).
std::string callerKey(const std::string& userId, const std::string& ipKey);

}  // namespace herald::limits
