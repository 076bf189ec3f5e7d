// The client behind trusted proxies (AppSettings:TrustedProxies), read from
// X-Forwarded-For as ASP.NET Core's ForwardedHeaders middleware reads it.
#include <gtest/gtest.h>

#include "http/forwarded_for.h"

using herald::http::TrustedProxies;
namespace ip = boost::asio::ip;

namespace {

std::string client(const TrustedProxies& proxies, const char* peer, const char* header) {
  return proxies.clientAddress(ip::make_address(peer), header).to_string();
}

}  // namespace

TEST(TrustedProxies, AnUntrustedPeerIsTheClientWhateverItForwards) {
  TrustedProxies none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(client(none, "127.0.0.1", "203.0.113.7"), "127.0.0.1");
  TrustedProxies proxies({"10.0.0.5"});
  EXPECT_EQ(client(proxies, "10.0.0.6", "203.0.113.7"), "10.0.0.6");
}

TEST(TrustedProxies, ATrustedPeerNamesTheRightMostAddressNoProxyVouchesFor) {
  TrustedProxies proxies({"127.0.0.1", "10.0.0.0/8"});
  EXPECT_EQ(client(proxies, "127.0.0.1", "203.0.113.7"), "203.0.113.7");
  // Two proxies in a row: both trusted, so the client is what the first one saw.
  EXPECT_EQ(client(proxies, "127.0.0.1", "203.0.113.7, 10.1.1.1"), "203.0.113.7");
  // Whatever the client wrote itself stays to the left of the first untrusted address.
  EXPECT_EQ(client(proxies, "127.0.0.1", "1.1.1.1, 198.51.100.4, 10.1.1.1"), "198.51.100.4");
  // Several header fields joined by the caller, spaces and empty entries.
  EXPECT_EQ(client(proxies, "127.0.0.1", "1.1.1.1,198.51.100.4 , ,"), "198.51.100.4");
  // No entry: the proxy itself.
  EXPECT_EQ(client(proxies, "127.0.0.1", ""), "127.0.0.1");
  // Everyone in the chain trusted: the left-most entry.
  EXPECT_EQ(client(proxies, "127.0.0.1", "10.0.0.9, 10.0.0.8"), "10.0.0.9");
}

TEST(TrustedProxies, PortsAndIpv6FormsAreRead) {
  TrustedProxies proxies({"::1", "127.0.0.1"});
  EXPECT_EQ(client(proxies, "::1", "203.0.113.7:5123"), "203.0.113.7");
  EXPECT_EQ(client(proxies, "::1", "[2001:db8::1]:443"), "2001:db8::1");
  EXPECT_EQ(client(proxies, "::1", "[2001:db8::1]"), "2001:db8::1");
  EXPECT_EQ(client(proxies, "::1", "2001:db8::2"), "2001:db8::2");
  // A dual-stack listener sees an IPv4 proxy as ::ffff:127.0.0.1.
  EXPECT_EQ(client(proxies, "::ffff:127.0.0.1", "203.0.113.8"), "203.0.113.8");
  EXPECT_EQ(client(proxies, "::1", "::ffff:203.0.113.9"), "203.0.113.9");
  EXPECT_EQ(client(proxies, "::1", "[::ffff:203.0.113.9]:80"), "203.0.113.9");
}

TEST(TrustedProxies, AnEntryThatIsNoAddressStopsTheWalk) {
  TrustedProxies proxies({"127.0.0.1", "10.0.0.0/8"});
  for (const char* bad : {"unknown", "_hidden", "host.example", "203.0.113.7:99999",
                          "[203.0.113.7]:80", "2001:db8::1:80]", "[2001:db8::1", "1.2.3.4:"}) {
    EXPECT_EQ(client(proxies, "127.0.0.1", bad), "127.0.0.1") << bad;
  }
  // Stops where it is: the address at hand is the last one read.
  EXPECT_EQ(client(proxies, "127.0.0.1", "203.0.113.7, unknown, 10.0.0.3"), "10.0.0.3");
}

TEST(TrustedProxies, ABadEntryIsRefused) {
  EXPECT_THROW(TrustedProxies({"10.0.0.1/8"}), std::invalid_argument);
  EXPECT_THROW(TrustedProxies({"proxy.example"}), std::invalid_argument);
}
