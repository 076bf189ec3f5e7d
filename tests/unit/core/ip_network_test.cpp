// Addresses and CIDR networks of AppSettings:TrustedProxies.
#include <gtest/gtest.h>

#include "core/ip_network.h"

using herald::core::contains;
using herald::core::parseIpNetwork;
namespace ip = boost::asio::ip;

TEST(IpNetwork, AddressesAndNetworksParse) {
  auto host = parseIpNetwork("10.1.2.3");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->prefixLength, 32);
  auto net = parseIpNetwork("10.0.0.0/8");
  ASSERT_TRUE(net);
  EXPECT_EQ(net->prefixLength, 8);
  auto v6 = parseIpNetwork("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->prefixLength, 8);
  EXPECT_EQ(parseIpNetwork("::1")->prefixLength, 128);
  EXPECT_EQ(parseIpNetwork("0.0.0.0/0")->prefixLength, 0);
  // An IPv4-mapped network is its IPv4 network.
  auto mapped = parseIpNetwork("::ffff:10.0.0.0/104");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->base.is_v4());
  EXPECT_EQ(mapped->prefixLength, 8);
}

TEST(IpNetwork, AnythingElseIsRefused) {
  for (const char* bad : {"", "localhost", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1",
                          "10.0.0.0/8x", "10.0.0.1/8", "fd00::1/8", "10.0.0", "1.2.3.4 ",
                          "fe80::1%1", "::ffff:10.0.0.0/8", "10.0.0.0/08/1"}) {
    EXPECT_FALSE(parseIpNetwork(bad)) << bad;
  }
}

TEST(IpNetwork, ContainsComparesThePrefixOnly) {
  auto net = *parseIpNetwork("172.16.0.0/12");
  EXPECT_TRUE(contains(net, ip::make_address("172.16.0.1")));
  EXPECT_TRUE(contains(net, ip::make_address("172.31.255.255")));
  EXPECT_FALSE(contains(net, ip::make_address("172.32.0.0")));
  EXPECT_FALSE(contains(net, ip::make_address("::1")));
  // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
  EXPECT_TRUE(contains(net, ip::make_address("::ffff:172.20.1.1")));
  auto host = *parseIpNetwork("127.0.0.1");
  EXPECT_TRUE(contains(host, ip::make_address("127.0.0.1")));
  EXPECT_FALSE(contains(host, ip::make_address("127.0.0.2")));
  auto v6 = *parseIpNetwork("2001:db8:1::/48");
  EXPECT_TRUE(contains(v6, ip::make_address("2001:db8:1:ffff::1")));
  EXPECT_FALSE(contains(v6, ip::make_address("2001:db8:2::1")));
  EXPECT_FALSE(contains(v6, ip::make_address("10.0.0.1")));
  auto odd = *parseIpNetwork("10.0.0.0/13");  // a mask inside a byte
  EXPECT_TRUE(contains(odd, ip::make_address("10.7.255.255")));
  EXPECT_FALSE(contains(odd, ip::make_address("10.8.0.0")));
  auto all = *parseIpNetwork("0.0.0.0/0");
  EXPECT_TRUE(contains(all, ip::make_address("203.0.113.9")));
}
