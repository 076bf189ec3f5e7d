// The hub's abuse limits through the fake transport and a manual clock: invocations per
// connection per second (a completion error over the limit, a close when sustained) and
// groups per connection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/fake_transport.h"

using namespace herald;
using namespace std::chrono_literals;
using herald::test::HubHarness;
using ::testing::HasSubstr;

namespace {

void addEcho(HubHarness& hub) {
  hub.dispatcher.addMethod(
      "Echo", 1, 1,
      [](hub::HubCallContext&, const boost::json::array& args)
          -> boost::asio::awaitable<boost::json::value> { co_return args[0]; });
}

config::LimitsSettings invocationLimit(double rate, double burst, int closeAfter) {
  config::LimitsSettings l;
  l.invocationsPerConnectionPerSecond = rate;
  l.invocationBurstPerConnection = burst;
  l.invocationAbuseCloseSeconds = closeAfter;
  return l;
}

}  // namespace

TEST(HubInvocationLimit, OverTheLimitGetsACompletionErrorAndTheRateComesBack) {
  HubHarness hub;
  addEcho(hub);
  hub.limits = invocationLimit(10, 5, 10);
  auto client = hub.connect();
  int ok = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {
    auto id = client->invoke("Echo", {i});
    auto c = client->nextCompletion(id);
    ASSERT_TRUE(c) << i;
    if (c->error) {
      EXPECT_THAT(*c->error, HasSubstr("rate limit exceeded"));
      ++refused;
    } else {
      ++ok;
    }
  }
  EXPECT_EQ(ok, 5);  // the burst
  EXPECT_EQ(refused, 15);
  EXPECT_FALSE(client->connection().closing());
  hub.clock.advance(1s);  // ten more tokens, five kept (the burst)
  for (int i = 0; i < 5; ++i)
    EXPECT_FALSE(client->nextCompletion(client->invoke("Echo", {i}))->error);
  EXPECT_TRUE(client->nextCompletion(client->invoke("Echo", {0}))->error);
}

TEST(HubInvocationLimit, SustainedExcessClosesTheConnectionWithAnError) {
  HubHarness hub;
  addEcho(hub);
  hub.limits = invocationLimit(10, 10, 3);
  auto client = hub.connect();
  // 100 a second, ten times the limit: refusals every second from the first.
  bool open = true;
  int seconds = 0;
  for (; open && seconds < 10; ++seconds) {
    for (int i = 0; i < 100 && open; ++i) {
      open = client->sendInvocation("Echo", {i});
      hub.clock.advance(10ms);
    }
  }
  EXPECT_FALSE(open);
  EXPECT_EQ(seconds, 4);  // closed in the fourth second: three seconds over the limit
  auto close = client->next<protocol::CloseMessage>();
  ASSERT_TRUE(close);
  ASSERT_TRUE(close->error);
  EXPECT_THAT(*close->error, HasSubstr("Rate limit exceeded"));
  EXPECT_FALSE(close->allowReconnect);
  EXPECT_TRUE(client->connection().closing());
}

TEST(HubInvocationLimit, AShortBurstOverTheLimitIsNotAbuse) {
  HubHarness hub;
  addEcho(hub);
  hub.limits = invocationLimit(10, 10, 2);
  auto client = hub.connect();
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 30; ++i) EXPECT_TRUE(client->sendInvocation("Echo", {i}));
    hub.clock.advance(2s);  // quiet long enough to end the run of refusals
  }
  EXPECT_FALSE(client->connection().closing());
}

TEST(HubInvocationLimit, NoLimitsMeansNoLimit) {
  HubHarness hub;
  addEcho(hub);
  auto client = hub.connect();
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(client->sendInvocation("Echo", {i}));
  auto id = client->invoke("Echo", {1});
  EXPECT_FALSE(client->nextCompletion(id)->error);
}

TEST(HubGroupLimit, AJoinBeyondTheLimitIsRefusedAndNothingIsJoined) {
  HubHarness hub;
  hub.lifetime.setMaxGroupsPerConnection(3);
  auto client = hub.connect();
  const auto& c = client->connectionPtr();
  EXPECT_TRUE(hub.lifetime.addToGroup(c, "job-1"));
  EXPECT_TRUE(hub.lifetime.addToGroup(c, "job-2"));
  EXPECT_TRUE(hub.lifetime.addToGroup(c, "job-3"));
  EXPECT_TRUE(hub.lifetime.addToGroup(c, "job-3"));  // a member already: not a new group
  EXPECT_FALSE(hub.lifetime.addToGroup(c, "job-4"));
  EXPECT_EQ(c->groupCount(), 3u);
  EXPECT_FALSE(hub.lifetime.hasGroup("job-4"));
  hub.lifetime.removeFromGroup(c, "job-1");
  EXPECT_TRUE(hub.lifetime.addToGroup(c, "job-4"));
}
