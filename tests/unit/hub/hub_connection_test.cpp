// The outbound queue: ordering per job, snapshot and replay marks, the slow-consumer
// bound, and one serialisation per protocol for a fan-out.
#include <gtest/gtest.h>

#include "hub/hub_connection.h"
#include "hub/hub_lifetime_manager.h"
#include "protocol/signalr/json_protocol.h"

using namespace herald;
using namespace herald::hub;

namespace {
const protocol::JsonHubProtocol kJson;

protocol::InvocationMessage update(int seq) {
  protocol::InvocationMessage m;
  m.target = "JobProgressUpdate";
  m.arguments.push_back(seq);
  return m;
}

HubConnectionPtr ready(std::string id, std::size_t maxBytes = 1 << 20) {
  auto c = std::make_shared<HubConnection>(std::move(id), "", maxBytes);
  c->setProtocol(&kJson);
  return c;
}
}  // namespace

TEST(HubConnection, DropsStaleAndDuplicateOrderedEvents) {
  auto c = ready("c1");
  EXPECT_EQ(c->send(SerializedMessage(update(1), OrderKey{"j", 1})), EnqueueResult::Queued);
  EXPECT_EQ(c->send(SerializedMessage(update(3), OrderKey{"j", 3})), EnqueueResult::Queued);
  EXPECT_EQ(c->send(SerializedMessage(update(2), OrderKey{"j", 2})), EnqueueResult::Dropped);
  EXPECT_EQ(c->send(SerializedMessage(update(3), OrderKey{"j", 3})), EnqueueResult::Dropped);
  EXPECT_EQ(c->send(SerializedMessage(update(1), OrderKey{"other", 1})), EnqueueResult::Queued);
  // A snapshot is always delivered; a replay restarts from the given mark.
  EXPECT_EQ(c->send(SerializedMessage(update(3), OrderKey{"j", 3}), true), EnqueueResult::Queued);
  c->resetSequence("j", 1);
  EXPECT_EQ(c->send(SerializedMessage(update(2), OrderKey{"j", 2})), EnqueueResult::Queued);
  EXPECT_EQ(c->takeQueued().size(), 5u);
}

TEST(HubConnection, NothingIsQueuedBeforeTheHandshake) {
  auto c = std::make_shared<HubConnection>("c", "", 1024);
  EXPECT_EQ(c->send(protocol::HubMessage(protocol::PingMessage{})), EnqueueResult::Closed);
}

TEST(HubConnection, SlowConsumerOverflowClosesTheConnection) {
  auto c = ready("c", 200);
  int woke = 0;
  c->setWakeup([&] { ++woke; });
  EnqueueResult last = EnqueueResult::Queued;
  for (int i = 0; i < 100 && last == EnqueueResult::Queued; ++i) {
    last = c->send(SerializedMessage(update(i)));
  }
  EXPECT_EQ(last, EnqueueResult::Overflow);
  EXPECT_TRUE(c->overflowed());
  EXPECT_TRUE(c->closing());
  EXPECT_GE(woke, 1);
  EXPECT_EQ(c->send(SerializedMessage(update(1))), EnqueueResult::Closed);
}

TEST(HubLifetimeManager, GroupFanOutSharesOneFrame) {
  HubLifetimeManager lifetime;
  auto a = ready("a"), b = ready("b"), outsider = ready("c");
  for (auto& c : {a, b, outsider}) lifetime.add(c);
  lifetime.addToGroup(a, "job-1");
  lifetime.addToGroup(b, "job-1");
  lifetime.deliverLocal(backplane::Target::group("job-1"), update(1), backplane::Ordering{"1", 1});
  auto fa = a->takeQueued(), fb = b->takeQueued();
  ASSERT_EQ(fa.size(), 1u);
  ASSERT_EQ(fb.size(), 1u);
  EXPECT_EQ(fa[0].get(), fb[0].get());  // the same bytes, serialised once
  EXPECT_TRUE(outsider->takeQueued().empty());

  lifetime.remove(a);
  lifetime.deliverLocal(backplane::Target::group("job-1"), update(2), backplane::Ordering{"1", 2});
  EXPECT_TRUE(a->takeQueued().empty());
  EXPECT_EQ(b->takeQueued().size(), 1u);
}
