// A mirrored stateful connection (adoption, hub/session_mirror.h): the frames the writer
// numbers reach the mirror with their sequence ids and jobs before they may be written;
// Acks and group changes are mirrored; an adopted connection restored from the mirror
// replays Sequence(first unacknowledged) and the mirrored frames first.
#include <gtest/gtest.h>

#include "hub/hub_connection.h"
#include "hub/hub_lifetime_manager.h"
#include "protocol/signalr/json_protocol.h"

using namespace herald;
using namespace herald::hub;

namespace {
const protocol::JsonHubProtocol kJson;

class FakeMirror final : public SessionMirror {
 public:
  MirrorSessionPtr open(const std::string& token, const SessionState&) override {
    opened.push_back(token);
    return std::make_shared<MirrorSession>();
  }
  void append(const MirrorSessionPtr&, std::vector<MirroredFrame> frames, std::int64_t total,
              std::function<void(MirrorWrite)> done) override {
    for (auto& f : frames) appended.push_back(std::move(f));
    totals.push_back(total);
    pending.push_back(std::move(done));
  }
  void acknowledge(const MirrorSessionPtr&, std::int64_t sequence) override {
    acks.push_back(sequence);
  }
  void joined(const MirrorSessionPtr&, const std::string& group) override {
    groups.push_back("+" + group);
  }
  void left(const MirrorSessionPtr&, const std::string& group) override {
    groups.push_back("-" + group);
  }
  void verify(const MirrorSessionPtr&, std::function<void(MirrorWrite)> done) override {
    done(MirrorWrite::Stored);
  }
  void close(const MirrorSessionPtr&) override { ++closed; }
  void adopt(const std::string&, std::function<void(std::optional<Adopted>)> done) override {
    done(std::nullopt);
  }

  std::vector<std::string> opened;
  std::vector<MirroredFrame> appended;
  std::vector<std::int64_t> totals;
  std::vector<std::function<void(MirrorWrite)>> pending;
  std::vector<std::int64_t> acks;
  std::vector<std::string> groups;
  int closed = 0;
};

SerializedMessage jobUpdate(const std::string& job, std::int64_t seq) {
  protocol::InvocationMessage m;
  m.target = "JobProgressUpdate";
  m.argumentsJson = "[" + std::to_string(seq) + "]";
  return SerializedMessage(std::move(m), OrderKey{job, seq});
}

HubConnectionPtr mirrored(const std::shared_ptr<FakeMirror>& mirror) {
  auto c = std::make_shared<HubConnection>("c1", std::string(), 1 << 20);
  c->setProtocol(&kJson);
  c->enableStatefulReconnect();
  c->attachMirror(mirror, std::make_shared<MirrorSession>());
  return c;
}

}  // namespace

TEST(HubConnectionMirror, NumberedFramesGoToTheMirrorWithTheirJobs) {
  auto mirror = std::make_shared<FakeMirror>();
  auto c = mirrored(mirror);
  c->send(jobUpdate("a", 5));
  c->send(jobUpdate("b", 9));
  c->send(protocol::HubMessage(protocol::PingMessage{}));  // not trackable: not numbered
  auto taken = c->takeQueued();
  ASSERT_EQ(taken.size(), 3U);
  bool stored = false;
  EXPECT_TRUE(c->mirrorTaken([&](MirrorWrite r) { stored = r == MirrorWrite::Stored; }));
  ASSERT_EQ(mirror->appended.size(), 2U);
  EXPECT_EQ(mirror->appended[0].sequence, 1);
  EXPECT_EQ(mirror->appended[0].jobId, "a");
  EXPECT_EQ(mirror->appended[0].jobSequence, 5);
  EXPECT_EQ(*mirror->appended[0].bytes, *taken[0]);
  EXPECT_EQ(mirror->appended[1].sequence, 2);
  EXPECT_EQ(mirror->appended[1].jobId, "b");
  EXPECT_EQ(mirror->totals, (std::vector<std::int64_t>{2}));
  mirror->pending[0](MirrorWrite::Stored);
  EXPECT_TRUE(stored);
  // Nothing new numbered: nothing to wait for.
  EXPECT_FALSE(c->mirrorTaken([](MirrorWrite) {}));
}

TEST(HubConnectionMirror, AcksAndGroupsAreMirrored) {
  auto mirror = std::make_shared<FakeMirror>();
  auto c = mirrored(mirror);
  c->send(jobUpdate("a", 1));
  c->send(jobUpdate("a", 2));
  c->takeQueued();
  c->mirrorTaken([](MirrorWrite) {});
  c->acknowledge(1);
  c->acknowledge(1);  // nothing more to drop: not mirrored again
  EXPECT_EQ(mirror->acks, (std::vector<std::int64_t>{1}));
  EXPECT_TRUE(c->addGroup("job-a"));
  EXPECT_TRUE(c->addGroup("job-a"));  // a member already
  c->removeGroup("job-a");
  c->removeGroup("job-a");
  EXPECT_EQ(mirror->groups, (std::vector<std::string>{"+job-a", "-job-a"}));
  c->detachMirror();
  EXPECT_EQ(mirror->closed, 1);
  c->detachMirror();
  EXPECT_EQ(mirror->closed, 1);
}

TEST(HubConnectionMirror, UnmirroredConnectionsPayNothing) {
  auto c = std::make_shared<HubConnection>("c1", std::string(), 1 << 20);
  c->setProtocol(&kJson);
  c->enableStatefulReconnect();
  c->send(jobUpdate("a", 1));
  c->takeQueued();
  EXPECT_FALSE(c->mirrorTaken([](MirrorWrite) {}));
}

TEST(HubConnectionMirror, AdoptedConnectionReplaysTheMirroredFramesAfterSequence) {
  auto mirror = std::make_shared<FakeMirror>();
  SessionState state;
  state.connectionId = "c1";
  state.protocol = "json";
  state.totalSent = 7;
  for (std::int64_t seq : {5, 6, 7}) {
    state.frames.push_back(MirroredFrame{
        seq, "a", seq + 100, std::make_shared<const Frame>("frame" + std::to_string(seq))});
  }
  state.jobMarks = {{"a", 107}};
  auto c = std::make_shared<HubConnection>("c1", std::string(), 1 << 20);
  c->setProtocol(&kJson);
  c->restore(state);
  c->attachMirror(mirror, std::make_shared<MirrorSession>());
  EXPECT_TRUE(c->statefulReconnect());
  // Live updates at or below the mark were delivered by the old node: dropped.
  EXPECT_EQ(c->send(jobUpdate("a", 107)), EnqueueResult::Dropped);
  EXPECT_EQ(c->send(jobUpdate("a", 108)), EnqueueResult::Queued);
  c->prepareReplay();
  auto taken = c->takeQueued();
  ASSERT_EQ(taken.size(), 5U);
  EXPECT_EQ(*taken[0], "{\"type\":9,\"sequenceId\":5}\x1e");
  EXPECT_EQ(*taken[1], "frame5");
  EXPECT_EQ(*taken[3], "frame7");
  // The new update is numbered after the mirrored ones, and mirrored (only it).
  EXPECT_TRUE(c->mirrorTaken([](MirrorWrite) {}));
  ASSERT_EQ(mirror->appended.size(), 1U);
  EXPECT_EQ(mirror->appended[0].sequence, 8);
  EXPECT_EQ(mirror->appended[0].jobSequence, 108);
  // The client acknowledges the replay: the buffer (and the mirror) drop it.
  c->acknowledge(7);
  EXPECT_EQ(mirror->acks, (std::vector<std::int64_t>{7}));
}

// A node that adopts a connection back from another may still hold its own stale copy
// (same id): the copy's removal, which may come after the new one registered, leaves the
// new one and its groups in place.
TEST(HubConnectionMirror, RemovingAStaleCopyLeavesTheAdoptedConnectionRegistered) {
  HubLifetimeManager lifetime;
  auto stale = std::make_shared<HubConnection>("same-id", std::string(), 1 << 20);
  stale->setProtocol(&kJson);
  lifetime.add(stale);
  ASSERT_TRUE(lifetime.addToGroup(stale, "job-a"));
  auto adopted = std::make_shared<HubConnection>("same-id", std::string(), 1 << 20);
  adopted->setProtocol(&kJson);
  lifetime.add(adopted);
  ASSERT_TRUE(lifetime.addToGroup(adopted, "job-a"));
  lifetime.remove(stale);
  EXPECT_EQ(lifetime.connectionCount(), 1U);
  EXPECT_TRUE(lifetime.hasGroup("job-a"));
  backplane::Envelope e;
  e.target = backplane::Target::group("job-a");
  e.event = "JobProgressUpdate";
  e.argumentsJson = "[1]";
  lifetime.deliverLocal(e);
  EXPECT_EQ(adopted->takeQueued().size(), 1U);
  lifetime.remove(adopted);
  EXPECT_EQ(lifetime.connectionCount(), 0U);
  EXPECT_FALSE(lifetime.hasGroup("job-a"));
}
