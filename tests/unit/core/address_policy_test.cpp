// The download address policy, range by range. Nothing here sends a packet: the policy
// is a pure function of the address.
#include <gtest/gtest.h>

#include "core/address_policy.h"

using namespace herald::core;
using boost::asio::ip::make_address;

namespace {

AddressKind kindOf(const char* text) { return classifyAddress(make_address(text)); }

}  // namespace

TEST(AddressPolicy, RefusesEveryNonPublicIpv4Range) {
  const std::pair<const char*, AddressKind> cases[] = {
      {"127.0.0.1", AddressKind::Loopback},        {"127.255.255.254", AddressKind::Loopback},
      {"10.0.0.1", AddressKind::Private},          {"10.255.255.255", AddressKind::Private},
      {"172.16.0.1", AddressKind::Private},        {"172.31.255.255", AddressKind::Private},
      {"192.168.0.1", AddressKind::Private},       {"192.168.255.255", AddressKind::Private},
      {"169.254.0.1", AddressKind::LinkLocal},     {"169.254.255.255", AddressKind::LinkLocal},
      {"169.254.169.254", AddressKind::Metadata},  {"100.100.100.200", AddressKind::Metadata},
      {"100.64.0.1", AddressKind::SharedNat},      {"100.127.255.255", AddressKind::SharedNat},
      {"0.0.0.0", AddressKind::Unspecified},       {"0.1.2.3", AddressKind::Unspecified},
      {"224.0.0.1", AddressKind::Multicast},       {"239.255.255.250", AddressKind::Multicast},
      {"255.255.255.255", AddressKind::Multicast}, {"240.0.0.1", AddressKind::Reserved},
      {"192.0.0.170", AddressKind::Reserved},      {"198.18.0.1", AddressKind::Reserved},
  };
  for (const auto& [text, kind] : cases) EXPECT_EQ(kindOf(text), kind) << text;
}

TEST(AddressPolicy, RangeEdgesArePublicJustOutside) {
  for (const char* text :
       {"9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0", "192.167.255.255",
        "192.169.0.0", "169.253.255.255", "169.255.0.0", "100.63.255.255", "100.128.0.0",
        "126.255.255.255", "128.0.0.0", "1.1.1.1", "8.8.8.8", "93.184.216.34", "223.255.255.255"}) {
    EXPECT_EQ(kindOf(text), AddressKind::Public) << text;
  }
}

TEST(AddressPolicy, RefusesIpv6RangesAndIpv4HiddenInIpv6) {
  const std::pair<const char*, AddressKind> cases[] = {
      {"::1", AddressKind::Loopback},
      {"::", AddressKind::Unspecified},
      {"fc00::1", AddressKind::Private},
      {"fd12:3456:789a::1", AddressKind::Private},
      {"fec0::1", AddressKind::Private},
      {"fe80::1", AddressKind::LinkLocal},
      {"febf:ffff::1", AddressKind::LinkLocal},
      {"fd00:ec2::254", AddressKind::Metadata},
      {"ff02::1", AddressKind::Multicast},
      {"::ffff:127.0.0.1", AddressKind::Loopback},
      {"::ffff:10.1.2.3", AddressKind::Private},
      {"::ffff:169.254.169.254", AddressKind::Metadata},
      {"::ffff:192.168.1.1", AddressKind::Private},
      {"64:ff9b::a00:1", AddressKind::Private},      // NAT64 of 10.0.0.1
      {"64:ff9b::7f00:1", AddressKind::Loopback},    // NAT64 of 127.0.0.1
      {"2002:a9fe:a9fe::1", AddressKind::Metadata},  // 6to4 of 169.254.169.254
      {"2002:c0a8:0101::1", AddressKind::Private},   // 6to4 of 192.168.1.1
      {"::127.0.0.1", AddressKind::Reserved},        // IPv4-compatible
      {"100::1", AddressKind::Reserved},
      {"2001:0:4136:e378::1", AddressKind::Reserved},  // Teredo
  };
  for (const auto& [text, kind] : cases) EXPECT_EQ(kindOf(text), kind) << text;
  for (const char* text : {"2606:4700:4700::1111", "2a00:1450:4001::1", "::ffff:8.8.8.8",
                           "64:ff9b::808:808", "2002:808:808::1"}) {
    EXPECT_EQ(kindOf(text), AddressKind::Public) << text;
  }
}

TEST(AddressPolicy, NumericHostsIncludeLegacyForms) {
  auto host = [](const char* h) {
    auto a = numericHost(h);
    return a ? a->to_string() : std::string("none");
  };
  EXPECT_EQ(host("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(host("2130706433"), "127.0.0.1");
  EXPECT_EQ(host("0x7f.1"), "127.0.0.1");
  EXPECT_EQ(host("127.1"), "127.0.0.1");
  EXPECT_EQ(host("0251.0376.0251.0376"), "169.254.169.254");
  EXPECT_EQ(host("[::1]"), "::1");
  EXPECT_EQ(host("::ffff:7f00:1"), "::ffff:127.0.0.1");
  EXPECT_EQ(host("fe80::1%25eth0"), "fe80::1");  // the zone never hides the address
  EXPECT_EQ(host("fe80::1%eth0"), "fe80::1");
  EXPECT_EQ(host("example.com"), "none");
  EXPECT_EQ(host("1.2.3.example"), "none");
  EXPECT_EQ(host(""), "none");
}

TEST(AddressPolicy, RefusedHostsAtIngest) {
  for (const char* h :
       {"localhost", "LOCALHOST", "localhost.", "a.b.localhost", "127.0.0.1", "[::1]", "10.0.0.1",
        "2130706433", "169.254.169.254", "[fe80::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "[fd00::1]",
        "172.16.5.4", "192.168.0.10", "100.64.1.1"}) {
    auto why = refusedHost(h);
    ASSERT_TRUE(why) << h;
    EXPECT_FALSE(why->empty());
  }
  for (const char* h : {"example.com", "media.test", "8.8.8.8", "[2606:4700::1]",
                        "localhost.example.com", "notlocalhost"}) {
    EXPECT_FALSE(refusedHost(h)) << h;
  }
  EXPECT_EQ(*refusedHost("169.254.169.254"), "169.254.169.254 is a cloud metadata address");
}
