// Connection counts by total, IP and user; leases give their place back; the registry
// holds only keys with open connections; client keys.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "limits/client_key.h"
#include "limits/connection_limits.h"

using namespace herald::limits;

TEST(ConnectionLimits, PerIpLimitRefusesTheNextAndALeaseGivesItsPlaceBack) {
  auto limits = ConnectionLimits::create({.maxTotal = 0, .maxPerIp = 2, .maxPerUser = 0});
  auto a = limits->admit("10.0.0.1", "");
  auto b = limits->admit("10.0.0.1", "");
  ASSERT_EQ(a.refusal, ConnectionRefusal::None);
  ASSERT_EQ(b.refusal, ConnectionRefusal::None);
  EXPECT_EQ(limits->admit("10.0.0.1", "").refusal, ConnectionRefusal::PerIp);
  EXPECT_EQ(limits->admit("10.0.0.2", "").refusal, ConnectionRefusal::None);  // another IP
  a.lease.release();
  EXPECT_EQ(limits->countForIp("10.0.0.1"), 1u);
  auto c = limits->admit("10.0.0.1", "");
  EXPECT_EQ(c.refusal, ConnectionRefusal::None);
}

TEST(ConnectionLimits, PerUserLimitCountsAUserFromEveryAddressAndNotAnonymousCallers) {
  auto limits = ConnectionLimits::create({.maxTotal = 0, .maxPerIp = 0, .maxPerUser = 3});
  std::vector<ConnectionLease> held;
  for (int i = 0; i < 3; ++i) {
    auto a = limits->admit("10.0.0." + std::to_string(i), "alice");
    ASSERT_EQ(a.refusal, ConnectionRefusal::None);
    held.push_back(std::move(a.lease));
  }
  auto refused = limits->admit("10.0.0.99", "alice");
  EXPECT_EQ(refused.refusal, ConnectionRefusal::PerUser);
  EXPECT_FALSE(refused.lease.held());
  // The refused attempt left no count behind on its address.
  EXPECT_EQ(limits->countForIp("10.0.0.99"), 0u);
  EXPECT_EQ(limits->admit("10.0.0.1", "bob").refusal, ConnectionRefusal::None);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(limits->admit("10.0.0.1", "").refusal, ConnectionRefusal::None);  // anonymous
  }
  EXPECT_EQ(limits->countForUser("alice"), 3u);
  held.clear();
  EXPECT_EQ(limits->countForUser("alice"), 0u);
}

TEST(ConnectionLimits, TotalLimitAndMovedLeases) {
  auto limits = ConnectionLimits::create({.maxTotal = 2, .maxPerIp = 0, .maxPerUser = 0});
  auto a = limits->admit("a", "");
  ConnectionLease moved = std::move(a.lease);
  EXPECT_FALSE(a.lease.held());
  auto b = limits->admit("b", "");
  EXPECT_EQ(limits->admit("c", "").refusal, ConnectionRefusal::Total);
  EXPECT_EQ(limits->total(), 2u);
  moved = ConnectionLease();  // assigning over a held lease gives its place back
  EXPECT_EQ(limits->total(), 1u);
  EXPECT_EQ(limits->countForIp("a"), 0u);
}

TEST(ConnectionLimits, LeasesOutliveTheirRegistrysOwner) {
  ConnectionLease lease;
  {
    auto limits = ConnectionLimits::create({});
    lease = std::move(limits->admit("a", "u").lease);
  }
  lease.release();  // the counts are still there: the lease shares them
  SUCCEED();
}

TEST(ConnectionLimits, ConcurrentAdmitsNeverExceedTheLimit) {
  auto limits = ConnectionLimits::create({.maxTotal = 0, .maxPerIp = 100, .maxPerUser = 0});
  std::vector<std::thread> threads;
  std::vector<std::vector<ConnectionLease>> held(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        auto a = limits->admit("10.0.0.1", "");
        if (a.lease.held()) held[t].push_back(std::move(a.lease));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::size_t n = 0;
  for (const auto& h : held) n += h.size();
  EXPECT_EQ(n, 100u);
  EXPECT_EQ(limits->countForIp("10.0.0.1"), 100u);
  held.clear();
  EXPECT_EQ(limits->total(), 0u);
}

TEST(ClientKey, Ipv6CountsByItsSlash64AndMappedIpv4AsIpv4) {
  EXPECT_EQ(ipKey("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(ipKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(ipKey("2001:db8:1:2::1"), ipKey("2001:db8:1:2:ffff::9"));
  EXPECT_NE(ipKey("2001:db8:1:2::1"), ipKey("2001:db8:1:3::1"));
  EXPECT_EQ(ipKey("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(ipKey("not an address"), "not an address");
  EXPECT_EQ(callerKey("", "192.0.2.7"), "ip:192.0.2.7");
  EXPECT_EQ(callerKey("alice", "192.0.2.7"), "user:alice");
}
