// The job-progress hub's methods against the fake transport: the snapshot a subscriber
// gets, replay after a sequence in pages, joining before reading while another writer
// publishes, a subscriber that stops reading during a replay, and unknown ids.
//
// The store work runs on an io_context of its own that the test steps, so a publish can
// be placed exactly between the hub method's join and its reads.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "api/hub_names.h"
#include "api/job_progress_events.h"
#include "api/job_progress_hub.h"
#include "jobs/progress_service.h"
#include "storage/sqlite/sqlite_store.h"
#include "support/fake_transport.h"

using namespace herald;
using namespace std::chrono_literals;

namespace {

class JobProgressHubTest : public ::testing::Test {
 protected:
  void SetUp() override { api::registerJobProgressHub(hub.dispatcher, service); }

  // Runs both loops until `done` holds (or fails the test after 10 s).
  template <class P>
  void runUntil(P done) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timed out";
      storeIo.restart();
      storeIo.poll();
      hub.io.restart();
      hub.io.run_for(1ms);
    }
  }

  std::string createJob(int updates) {
    jobs::NewJob spec;
    spec.jobType = "Transcription";
    spec.userId = "alice";
    auto job = service.onStoreInline([&](storage::Store&) { return service.createJobNow(spec); });
    for (int i = 0; i < updates; ++i) report(job.id, i % 100);
    return job.id;
  }

  // Another writer's report: recorded and published at once (no batch).
  void report(const std::string& jobId, double progress) {
    jobs::ProgressReport r;
    r.progress = progress;
    r.statusMessage = "working";
    service.onStoreInline([&](storage::Store&) { return service.reportNow(jobId, r); });
  }

  // Sequences of every JobProgressUpdate the client has received so far, in order.
  std::vector<std::int64_t> sequences(test::FakeTransport& client) {
    std::vector<std::int64_t> out;
    while (auto m = client.nextInvocation(api::names::kJobProgressUpdate)) {
      out.push_back(m->arguments.at(0).as_object().at("sequence").to_number<std::int64_t>());
    }
    return out;
  }

  // Every JobProgressUpdate sequence until the invocation `id` completes (and any left).
  std::vector<std::int64_t> sequencesUntilDone(test::FakeTransport& client, const std::string& id) {
    std::vector<std::int64_t> got;
    runUntil([&] {
      auto more = sequences(client);
      got.insert(got.end(), more.begin(), more.end());
      return client.nextCompletion(id).has_value();
    });
    auto more = sequences(client);
    got.insert(got.end(), more.begin(), more.end());
    return got;
  }

  static std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {
    std::vector<std::int64_t> v;
    for (auto s = first; s <= last; ++s) v.push_back(s);
    return v;
  }

  test::HubHarness hub;
  boost::asio::io_context storeIo;
  storage::SqliteStore store{":memory:"};
  api::JobProgressEvents events{hub.backplane};
  jobs::ProgressService service{store, storeIo.get_executor(), events};
};

TEST_F(JobProgressHubTest, ASubscriberGetsTheCurrentStateThenLiveUpdates) {
  auto jobId = createJob(3);  // sequence 4
  auto client = hub.connect();
  auto id = client->startInvoke("SubscribeToJob", {jobId});
  std::optional<protocol::CompletionMessage> done;
  runUntil([&] { return (done = client->nextCompletion(id)).has_value(); });
  EXPECT_FALSE(done->error);
  EXPECT_TRUE(done->result.is_null());
  EXPECT_EQ(sequences(*client), (std::vector<std::int64_t>{4}));
  report(jobId, 50);
  EXPECT_EQ(sequences(*client), (std::vector<std::int64_t>{5}));
  // Unsubscribed, it hears nothing more.
  auto off = client->startInvoke("UnsubscribeFromJob", {jobId});
  runUntil([&] { return client->nextCompletion(off).has_value(); });
  report(jobId, 60);
  EXPECT_TRUE(sequences(*client).empty());
}

TEST_F(JobProgressHubTest, ReplayAfterASequenceIsPagedCompleteAndInOrder) {
  // More history than one page (500) and more bytes than the queue may hold at once: the
  // replay must read page by page and wait for the writer, not close the subscriber.
  hub.settings.maxOutboundQueueBytes = 128 * 1024;
  auto jobId = createJob(1'300);  // sequences 1..1301, ~400 bytes a frame
  auto client = hub.connect();
  auto id = client->startInvoke("SubscribeToJob", {jobId, 100});
  auto got = sequencesUntilDone(*client, id);
  EXPECT_FALSE(client->connection().overflowed());
  EXPECT_EQ(got, range(101, 1301));
}

TEST_F(JobProgressHubTest, UpdatesPublishedDuringTheReplayFollowItWithNoGapOrDuplicate) {
  auto jobId = createJob(1'100);  // 1..1101
  auto client = hub.connect();
  auto id = client->startInvoke("SubscribeToJob", {jobId, 0});
  // The method has joined the group and asked the store for the job; before the store
  // answers, and then between pages, another writer keeps publishing.
  hub.io.restart();
  hub.io.poll();
  ASSERT_EQ(hub.lifetime.groupCount(), 1u);
  int published = 0;
  std::vector<std::int64_t> got;
  std::optional<protocol::CompletionMessage> done;
  while (!done) {
    if (published < 5) {
      report(jobId, 99);
      ++published;
    }
    storeIo.restart();
    storeIo.poll_one();
    hub.io.restart();
    hub.io.poll();
    auto more = sequences(*client);
    got.insert(got.end(), more.begin(), more.end());
    done = client->nextCompletion(id);
  }
  auto more = sequences(*client);
  got.insert(got.end(), more.begin(), more.end());
  EXPECT_EQ(got, range(1, 1106));
  report(jobId, 100);  // after the replay: live again
  EXPECT_EQ(sequences(*client), (std::vector<std::int64_t>{1107}));
}

TEST_F(JobProgressHubTest, AnUpdateBetweenJoinAndReadIsNotLostAndTheSnapshotNeverGoesBack) {
  auto jobId = createJob(2);  // sequence 3
  auto client = hub.connect();
  auto id = client->startInvoke("SubscribeToJob", {jobId});
  hub.io.restart();
  hub.io.poll();  // joined; the read is queued on the store
  storeIo.restart();
  storeIo.poll();     // the store read the job at sequence 3; the answer is on its way back
  report(jobId, 70);  // sequence 4, published to the group before the snapshot is sent
  std::optional<protocol::CompletionMessage> done;
  runUntil([&] { return (done = client->nextCompletion(id)).has_value(); });
  // The live update arrived; the older snapshot (3) was not sent after it.
  EXPECT_EQ(sequences(*client), (std::vector<std::int64_t>{4}));
}

TEST_F(JobProgressHubTest, AReplayWaitsForASubscriberThatStoppedReading) {
  hub.settings.maxOutboundQueueBytes = 64 * 1024;
  auto jobId = createJob(1'200);
  auto client = hub.connect();
  client->stallWriter();
  auto id = client->startInvoke("SubscribeToJob", {jobId, 0});
  const auto until = std::chrono::steady_clock::now() + 60ms;
  while (std::chrono::steady_clock::now() < until) {
    storeIo.restart();
    storeIo.poll();
    hub.io.restart();
    hub.io.run_for(2ms);
  }
  // One page is queued and the replay waits: nothing overflowed, nothing more was read.
  EXPECT_FALSE(client->connection().overflowed());
  EXPECT_LE(client->connection().queuedBytes(), 64u * 1024);
  client->resumeWriter();
  auto got = sequencesUntilDone(*client, id);
  EXPECT_EQ(got, range(1, 1201));
}

TEST_F(JobProgressHubTest, UnknownIdsAreNotFoundWithANullResultAndNoGroup) {
  auto client = hub.connect();
  for (const char* method :
       {"SubscribeToJob", "GetJobProgress", "SubscribeToVideo", "GetVideoProgress"}) {
    auto id = client->startInvoke(method, {"no-such-id"});
    std::optional<protocol::CompletionMessage> done;
    runUntil([&] { return (done = client->nextCompletion(id)).has_value(); });
    EXPECT_FALSE(done->error) << method;
    EXPECT_TRUE(done->result.is_null()) << method;
    auto error = client->nextInvocation(api::names::kError);
    ASSERT_TRUE(error) << method;
    EXPECT_EQ(error->arguments.at(0).as_object().at("code"), "NOT_FOUND");
  }
  EXPECT_EQ(hub.lifetime.groupCount(), 0u);
}

TEST_F(JobProgressHubTest, AConnectionWithAUserJoinsItsUserGroup) {
  auto client = hub.connect("json", "alice");
  runUntil([&] { return hub.lifetime.groupCount() == 1; });
  auto jobId = createJob(0);
  // The owner's group hears the job's end.
  jobs::ProgressReport r;
  r.status = model::JobStatus::Completed;
  service.onStoreInline([&](storage::Store&) { return service.reportNow(jobId, r); });
  EXPECT_TRUE(client->nextInvocation(api::names::kJobCompleted));
}

TEST_F(JobProgressHubTest, ASubscriptionBeyondTheGroupLimitIsACompletionErrorAndJoinsNothing) {
  hub.lifetime.setMaxGroupsPerConnection(2);
  auto client = hub.connect();
  const auto a = createJob(0), b = createJob(0), c = createJob(0);
  auto subscribe = [&](const char* method, const std::string& id, std::int64_t after = -1) {
    auto inv =
        after < 0 ? client->startInvoke(method, {id}) : client->startInvoke(method, {id, after});
    std::optional<protocol::CompletionMessage> done;
    runUntil([&] { return (done = client->nextCompletion(inv)).has_value(); });
    return *done;
  };
  EXPECT_FALSE(subscribe("SubscribeToJob", a).error);
  EXPECT_FALSE(subscribe("SubscribeToJob", b).error);
  EXPECT_FALSE(subscribe("SubscribeToJob", b).error);  // a member already
  for (auto [method, after] : {std::pair{"SubscribeToJob", -1}, std::pair{"SubscribeToJob", 0},
                               std::pair{"SubscribeToVideo", -1}}) {
    auto refused = subscribe(method, c, after);
    ASSERT_TRUE(refused.error) << method;
    EXPECT_NE(refused.error->find("Limits:MaxGroupsPerConnection"), std::string::npos);
  }
  EXPECT_EQ(client->connectionPtr()->groupCount(), 2u);
  // A refused replay released its hold on the job: a later subscription after leaving
  // another group gets the job's updates.
  (void)subscribe("UnsubscribeFromJob", a);
  EXPECT_FALSE(subscribe("SubscribeToJob", c, 0).error);
  sequences(*client);
  report(c, 50);
  runUntil([&] { return !sequences(*client).empty(); });
}

TEST_F(JobProgressHubTest, DashboardStreamMethodsAreDeclaredAdminOnly) {
  EXPECT_EQ(hub.dispatcher.methodAccess("SubscribeToDashboard"), auth::Access::Admin);
  EXPECT_EQ(hub.dispatcher.methodAccess("unsubscribefromdashboard"), auth::Access::Admin);
  EXPECT_EQ(hub.dispatcher.methodAccess("SubscribeToJob"), auth::Access::Anonymous);
  EXPECT_EQ(hub.dispatcher.methodAccess("NoSuchMethod"), std::nullopt);
}

}  // namespace
