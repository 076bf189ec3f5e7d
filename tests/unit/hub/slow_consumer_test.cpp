// The slow-consumer policy end to end on the hub side: a connection whose writer never
// takes its frames overflows MaxOutboundQueueBytes during a group fan-out, is closed and
// counted, and the other members of the group keep receiving every broadcast.
#include <gtest/gtest.h>

#include "support/fake_transport.h"

using namespace herald;
using namespace std::chrono_literals;
using herald::test::HubHarness;

namespace {

protocol::InvocationMessage progress(int i) {
  protocol::InvocationMessage m;
  m.target = "JobProgressUpdate";
  m.arguments = {i, std::string(200, 'p')};  // ~250 bytes a frame
  return m;
}

}  // namespace

TEST(SlowConsumer, OverflowClosesAndCountsItWhileTheGroupKeepsReceiving) {
  HubHarness hub;
  hub.settings.maxOutboundQueueBytes = 4096;
  auto fast = hub.connect("json");
  auto packed = hub.connect("messagepack");
  auto stalled = hub.connect("json");
  for (const auto& c : {fast, packed, stalled}) {
    hub.lifetime.addToGroup(c->connectionPtr(), "job-1");
  }
  stalled->stallWriter();  // a client that stopped reading

  constexpr int kBroadcasts = 50;  // ~12 KB: three times the stalled client's limit
  for (int i = 0; i < kBroadcasts; ++i) {
    hub.backplane.publish(test::envelopeOf(backplane::Target::group("job-1"), progress(i)));
    // The healthy writers run between broadcasts, as I/O threads do.
    EXPECT_EQ(fast->pendingCount(), static_cast<std::size_t>(i + 1));
    EXPECT_EQ(packed->pendingCount(), static_cast<std::size_t>(i + 1));
  }

  EXPECT_TRUE(stalled->connection().overflowed());
  EXPECT_TRUE(stalled->connection().closing());
  EXPECT_EQ(hub.lifetime.stats().overflows, 1u);  // counted once, then it is closed
  EXPECT_FALSE(fast->connection().closing());
  EXPECT_FALSE(packed->connection().closing());
  for (int i = 0; i < kBroadcasts; ++i) {
    for (auto* c : {fast.get(), packed.get()}) {
      auto m = c->nextInvocation("JobProgressUpdate");
      ASSERT_TRUE(m) << "broadcast " << i;
      EXPECT_EQ(m->arguments.at(0).to_number<int>(), i);
    }
  }

  // The stalled connection's transport never drains, so the close timeout aborts it;
  // then it leaves the group and the broadcasts go on without it.
  EXPECT_EQ(stalled->tick(), hub::TickResult::Ending);
  hub.clock.advance(hub::ConnectionHandler::kCloseTimeout + 1s);
  EXPECT_EQ(stalled->tick(), hub::TickResult::Abort);
  stalled->disconnect();
  EXPECT_EQ(hub.lifetime.connectionCount(), 2u);
  hub.backplane.publish(test::envelopeOf(backplane::Target::group("job-1"), progress(kBroadcasts)));
  EXPECT_TRUE(fast->nextInvocation("JobProgressUpdate"));
  EXPECT_TRUE(packed->nextInvocation("JobProgressUpdate"));
  EXPECT_EQ(hub.lifetime.stats().overflows, 1u);
}

TEST(SlowConsumer, AWriterThatCatchesUpNeverOverflows) {
  HubHarness hub;
  hub.settings.maxOutboundQueueBytes = 4096;
  auto client = hub.connect();
  hub.lifetime.addToGroup(client->connectionPtr(), "job-1");
  client->stallWriter();
  for (int i = 0; i < 10; ++i) {  // ~2.5 KB: under the limit
    hub.backplane.publish(test::envelopeOf(backplane::Target::group("job-1"), progress(i)));
  }
  EXPECT_EQ(client->pendingCount(), 0u);  // held back
  client->resumeWriter();
  EXPECT_EQ(client->pendingCount(), 10u);
  for (int i = 0; i < 40; ++i) {
    hub.backplane.publish(test::envelopeOf(backplane::Target::group("job-1"), progress(i)));
    client->pendingCount();  // the writer keeps up
  }
  EXPECT_FALSE(client->connection().overflowed());
  EXPECT_EQ(hub.lifetime.stats().overflows, 0u);
}
