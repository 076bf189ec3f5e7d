// The outbound queue: ordering per job, subscription and replay marks, live updates held
// during a replay, the slow-consumer bound, one serialisation per protocol for a fan-out,
// and node-level group interest on the backplane.
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

backplane::Envelope envelope(const std::string& group, int seq) {
  backplane::Envelope e;
  e.target = backplane::Target::group(group);
  e.event = "JobProgressUpdate";
  e.argumentsJson = "[" + std::to_string(seq) + "]";
  e.ordering = backplane::Ordering{"1", seq};
  return e;
}

// The arguments of each queued frame ("[3]" for update 3), in order.
std::vector<std::string> argumentsOf(const std::vector<FramePtr>& frames) {
  std::vector<std::string> out;
  for (const auto& f : frames) {
    auto open = f->find("\"arguments\":");
    auto close = f->find(']', open);
    out.push_back(f->substr(open + 12, close - open - 11));
  }
  return out;
}

// Counts node-level subscriptions, as a networked backplane would make them.
class CountingBackplane final : public backplane::Backplane {
 public:
  void setLocalSink(backplane::LocalSink*) override {}
  void publish(backplane::Envelope) override {}
  void subscribe(const std::string& g) override { log.push_back("+" + g); }
  void unsubscribe(const std::string& g) override { log.push_back("-" + g); }
  std::vector<std::string> log;
};

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
  // A new subscription takes the next event whatever came before; a replay restarts
  // from its mark.
  c->restartSequence("j");
  EXPECT_EQ(c->send(SerializedMessage(update(3), OrderKey{"j", 3})), EnqueueResult::Queued);
  c->beginReplay("j", 1);
  EXPECT_EQ(c->send(SerializedMessage(update(2), OrderKey{"j", 2}), SendMode::Replay),
            EnqueueResult::Queued);
  c->endReplay("j");
  EXPECT_EQ(argumentsOf(c->takeQueued()),
            (std::vector<std::string>{"[1]", "[3]", "[1]", "[3]", "[2]"}));
}

TEST(HubConnection, LiveUpdatesWaitForTheReplayAndFollowIt) {
  auto c = ready("c1");
  c->beginReplay("j", 2);
  // Live updates that arrive while history 3..5 is read are held, not sent ahead of it.
  EXPECT_EQ(c->send(SerializedMessage(update(6), OrderKey{"j", 6})), EnqueueResult::Queued);
  EXPECT_EQ(c->send(SerializedMessage(update(5), OrderKey{"j", 5})), EnqueueResult::Queued);
  EXPECT_TRUE(c->takeQueued().empty());
  for (int s : {3, 4, 5}) {
    EXPECT_EQ(c->send(SerializedMessage(update(s), OrderKey{"j", s}), SendMode::Replay),
              EnqueueResult::Queued);
  }
  // Other jobs are not held.
  EXPECT_EQ(c->send(SerializedMessage(update(9), OrderKey{"other", 9})), EnqueueResult::Queued);
  c->endReplay("j");
  EXPECT_EQ(c->send(SerializedMessage(update(6), OrderKey{"j", 6})), EnqueueResult::Dropped);
  EXPECT_EQ(c->send(SerializedMessage(update(7), OrderKey{"j", 7})), EnqueueResult::Queued);
  EXPECT_EQ(argumentsOf(c->takeQueued()),
            (std::vector<std::string>{"[3]", "[4]", "[5]", "[9]", "[6]", "[7]"}));
}

TEST(HubConnection, HeldLiveUpdatesCountTowardTheQueueLimit) {
  auto c = ready("c1", 400);
  c->beginReplay("j", 0);
  EnqueueResult last = EnqueueResult::Queued;
  int sent = 0;
  for (int s = 1; s < 100 && last == EnqueueResult::Queued; ++s, ++sent) {
    last = c->send(SerializedMessage(update(s), OrderKey{"j", s}));
  }
  EXPECT_EQ(last, EnqueueResult::Overflow);
  EXPECT_LT(sent, 20);
  EXPECT_TRUE(c->closing());
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
  lifetime.deliverLocal(envelope("job-1", 1));
  auto fa = a->takeQueued(), fb = b->takeQueued();
  ASSERT_EQ(fa.size(), 1u);
  ASSERT_EQ(fb.size(), 1u);
  EXPECT_EQ(fa[0].get(), fb[0].get());  // the same bytes, serialised once
  EXPECT_TRUE(outsider->takeQueued().empty());

  lifetime.remove(a);
  lifetime.deliverLocal(envelope("job-1", 2));
  EXPECT_TRUE(a->takeQueued().empty());
  EXPECT_EQ(b->takeQueued().size(), 1u);
}

TEST(HubLifetimeManager, SubscribesTheNodeOnAGroupsFirstMemberAndLeavesAfterItsLast) {
  CountingBackplane backplane;
  HubLifetimeManager lifetime(&backplane);
  auto a = ready("a"), b = ready("b");
  lifetime.add(a);
  lifetime.add(b);
  lifetime.addToGroup(a, "job-1");
  lifetime.addToGroup(b, "job-1");
  lifetime.addToGroup(a, "user-u");
  EXPECT_EQ(lifetime.groupCount(), 2u);
  lifetime.removeFromGroup(a, "job-1");
  EXPECT_EQ(backplane.log, (std::vector<std::string>{"+job-1", "+user-u"}));
  lifetime.remove(a);  // its last group goes with it
  lifetime.removeFromGroup(b, "job-1");
  EXPECT_EQ(backplane.log, (std::vector<std::string>{"+job-1", "+user-u", "-user-u", "-job-1"}));
  EXPECT_EQ(lifetime.groupCount(), 0u);
  // A connection that has left cannot join again (a disconnect racing a subscribe).
  lifetime.addToGroup(a, "job-2");
  EXPECT_EQ(lifetime.groupCount(), 0u);
  EXPECT_EQ(a->groups().count("job-2"), 0u);
}

TEST(HubConnection, TakesABatchUpToAByteBoundAndKeepsTheRestInOrder) {
  auto c = ready("c1");
  for (int s = 1; s <= 5; ++s) EXPECT_EQ(c->send(update(s)), EnqueueResult::Queued);
  const std::size_t one = c->queuedBytes() / 5;
  c->close(std::nullopt);
  std::vector<FramePtr> out;
  bool binary = true;
  // Two frames reach the bound; the close is not reported while frames remain.
  EXPECT_FALSE(c->takeQueued(out, binary, 2 * one));
  EXPECT_FALSE(binary);
  EXPECT_EQ(argumentsOf(out), (std::vector<std::string>{"[1]", "[2]"}));
  EXPECT_EQ(c->queuedBytes(), 3 * one);
  // A bound smaller than one frame still takes one.
  out.clear();
  EXPECT_FALSE(c->takeQueued(out, binary, 1));
  EXPECT_EQ(argumentsOf(out), (std::vector<std::string>{"[3]"}));
  out.clear();
  EXPECT_TRUE(c->takeQueued(out, binary, 1 << 20));
  EXPECT_EQ(argumentsOf(out), (std::vector<std::string>{"[4]", "[5]"}));
  EXPECT_EQ(c->queuedBytes(), 0u);
}

// The delivery-latency metric's start travels with the frame: a writer learns the
// oldest stamp of each batch it takes (unstamped frames, e.g. snapshots, count as none).
TEST(HubConnection, TakeQueuedReportsTheBatchsOldestRecordedStamp) {
  auto c = ready("c");
  c->send(SerializedMessage(update(1), OrderKey{"j", 1}, 500));
  c->send(SerializedMessage(update(2), OrderKey{"j", 2}, 300));
  c->send(SerializedMessage(update(3), OrderKey{"j", 3}));
  std::int64_t oldest = -1;
  EXPECT_EQ(c->takeQueued(&oldest).size(), 3u);
  EXPECT_EQ(oldest, 300);
  c->send(SerializedMessage(update(4), OrderKey{"j", 4}));
  EXPECT_EQ(c->takeQueued(&oldest).size(), 1u);
  EXPECT_EQ(oldest, 0);
}

// Issue 12: a stateful-reconnect client that reads everything but never sends Ack made the
// server keep every frame it had sent (300 MB, never closed): the bound was only checked
// while frames were queued, and a reader that keeps up leaves the queue empty.
TEST(HubConnection, UnacknowledgedBytesCountTowardTheBoundEvenWithAnEmptyQueue) {
  auto c = ready("c", 4096);
  c->enableStatefulReconnect();
  EnqueueResult last = EnqueueResult::Queued;
  int sent = 0;
  for (; sent < 1000 && last == EnqueueResult::Queued; ++sent) {
    last = c->send(SerializedMessage(update(sent)));
    c->takeQueued();  // the client reads at once (the queue is empty again) but never acks
  }
  EXPECT_EQ(last, EnqueueResult::Overflow);
  EXPECT_LT(sent, 4096 / 40);  // each frame is over 40 bytes
  EXPECT_TRUE(c->overflowed());
  EXPECT_TRUE(c->closing());
}

TEST(HubConnection, AcknowledgedBytesNoLongerCount) {
  auto c = ready("c", 4096);
  c->enableStatefulReconnect();
  for (int i = 1; i <= 1000; ++i) {
    ASSERT_EQ(c->send(SerializedMessage(update(i))), EnqueueResult::Queued) << i;
    c->takeQueued();
    c->acknowledge(i);  // a client that acks keeps going forever
  }
  EXPECT_FALSE(c->closing());
}

// After a reattach the unacknowledged frames are queued again; they are the same bytes as
// the replay buffer's and count once, so a reconnect with a backlog near the bound is not
// taken for a slow consumer.
TEST(HubConnection, ReplayedFramesCountOnceAfterAReattach) {
  auto c = ready("c", 4096);
  c->enableStatefulReconnect();
  std::size_t kept = 0;
  int i = 0;
  for (; kept + 200 < 4096 * 2 / 3; ++i) {
    ASSERT_EQ(c->send(SerializedMessage(update(i))), EnqueueResult::Queued);
    for (const auto& f : c->takeQueued()) kept += f->size();
  }
  c->prepareReplay();  // a new socket: Sequence, then the unacknowledged frames again
  EXPECT_EQ(c->send(SerializedMessage(update(i))), EnqueueResult::Queued);
  EXPECT_FALSE(c->closing());
  c->takeQueued();  // the replay is written
  c->acknowledge(i + 1);
  EXPECT_EQ(c->send(SerializedMessage(update(i + 1))), EnqueueResult::Queued);
}
