// Leases in the store contract (store.h, "Leases"), against every backend: a Running job
// whose lease expired is claimable again, before the queue; renewLease moves only the
// expiry and fails once the job is not Running under the token.
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "store_backends.h"

namespace herald::storage {
namespace {

using model::Job;
using model::JobStatus;
using Outcome = JobChange::Outcome;

constexpr std::int64_t kT0 = 1'700'000'000'000;
constexpr std::int64_t kLease = 10'000;

class LeaseTest : public testing::StoreOnBackendTest {
 protected:
  void create(const std::string& id, std::int64_t createdAt = kT0, std::string runner = "herald") {
    Job job;
    job.id = id;
    job.jobType = "Transcription";
    job.createdAt = job.updatedAt = createdAt;
    job.runner = std::move(runner);
    store_->createJob(job);
  }

  // Claims at `now` as `owner` with token `token`; returns the job claimed (or nullopt).
  std::optional<Job> claim(std::int64_t now, const std::string& owner, const std::string& token,
                           const ClaimFilter& filter = {}) {
    auto change = store_->claimNextJob(now, filter, [&](Job& j) {
      j.status = JobStatus::Running;
      j.attempts += 1;
      j.leaseOwner = owner;
      j.leaseToken = token;
      j.leaseMillis = kLease;
      j.leaseExpiresAt = now + kLease;
      return true;
    });
    if (!change) return std::nullopt;
    EXPECT_EQ(change->outcome, Outcome::Updated);
    return change->job;
  }
};

TEST_P(LeaseTest, TheLeaseIsStoredAndReadBack) {
  create("j1");
  auto claimed = claim(kT0, "node-a", "t1");
  ASSERT_TRUE(claimed);
  auto other = db_->open();
  auto stored = other->getJob("j1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->leaseOwner, "node-a");
  EXPECT_EQ(stored->leaseToken, "t1");
  EXPECT_EQ(stored->leaseExpiresAt, kT0 + kLease);
  EXPECT_EQ(stored->leaseMillis, kLease);
}

TEST_P(LeaseTest, ALiveLeaseIsNotClaimedAnExpiredOneIsTakenOverFirst) {
  create("leased", kT0);
  ASSERT_TRUE(claim(kT0, "node-a", "t1"));
  create("queued", kT0 + 1);
  // Live: the queue is served instead.
  auto next = claim(kT0 + kLease - 1, "node-b", "t2");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->id, "queued");
  create("queued2", kT0 + 2);
  // Expired (at the expiry itself): taken over before the queue, the attempt counted.
  auto other = db_->open();
  auto change = other->claimNextJob(kT0 + kLease, {}, [&](Job& j) {
    EXPECT_EQ(j.status, JobStatus::Running);
    EXPECT_EQ(j.leaseToken, "t1");
    j.attempts += 1;
    j.leaseOwner = "node-c";
    j.leaseToken = "t3";
    j.leaseExpiresAt = kT0 + 100 * kLease;
    return true;
  });
  ASSERT_TRUE(change);
  EXPECT_EQ(change->job.id, "leased");
  EXPECT_EQ(change->job.attempts, 2);
  EXPECT_EQ(change->job.sequence, 3);
  EXPECT_EQ(store_->getJob("leased")->leaseToken, "t3");
  // A Running job without an expiring lease (0) is never taken over.
  create("waiting", kT0 + 3);
  store_->updateJob("waiting", [](Job& j) {
    j.status = JobStatus::Running;
    return true;
  });
  auto last = claim(kT0 + 2 * kLease - 2, "node-d", "t4");  // before "queued" expires
  ASSERT_TRUE(last);
  EXPECT_EQ(last->id, "queued2");
  EXPECT_FALSE(claim(kT0 + 2 * kLease - 2, "node-d", "t5"));
}

TEST_P(LeaseTest, RenewMovesOnlyTheExpiryAndFailsOnceTheTokenIsStale) {
  create("j1");
  ASSERT_TRUE(claim(kT0, "node-a", "t1"));
  const auto sequence = store_->getJob("j1")->sequence;
  EXPECT_TRUE(store_->renewLease("j1", "t1", kT0 + 5 * kLease));
  EXPECT_TRUE(store_->renewLease("j1", "t1", kT0 + 5 * kLease));  // same value: still held
  auto other = db_->open();
  auto stored = other->getJob("j1");
  EXPECT_EQ(stored->leaseExpiresAt, kT0 + 5 * kLease);
  EXPECT_EQ(stored->sequence, sequence);
  EXPECT_EQ(other->progressHistory("j1", 0, 100).size(), 2u);
  // Renewed: not claimable before the new expiry.
  EXPECT_FALSE(claim(kT0 + 2 * kLease, "node-b", "t2"));
  EXPECT_FALSE(store_->renewLease("j1", "wrong", kT0 + 6 * kLease));
  EXPECT_FALSE(store_->renewLease("nope", "t1", kT0 + 6 * kLease));
  EXPECT_FALSE(store_->renewLease("j1", "", kT0 + 6 * kLease));
  // Taken over: the old token renews nothing.
  ASSERT_TRUE(claim(kT0 + 5 * kLease, "node-b", "t2"));
  EXPECT_FALSE(store_->renewLease("j1", "t1", kT0 + 9 * kLease));
  EXPECT_EQ(other->getJob("j1")->leaseExpiresAt, kT0 + 6 * kLease);
  // Ended: nothing to renew.
  store_->updateJob("j1", [](Job& j) {
    j.status = JobStatus::Completed;
    return true;
  });
  EXPECT_FALSE(store_->renewLease("j1", "t2", kT0 + 9 * kLease));
}

TEST_P(LeaseTest, AnyRunnerClaimsEveryQueueOneRunnerOnlyItsOwn) {
  create("external", kT0, "");
  ClaimFilter herald;
  EXPECT_FALSE(claim(kT0, "n", "t", herald));
  ClaimFilter any;
  any.anyRunner = true;
  any.jobTypes = {"Transcription"};
  auto claimed = claim(kT0, "w", "t", any);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->id, "external");
}

TEST_P(LeaseTest, AReportThatKeepsTheStatusStillWritesTheLease) {
  create("j1");
  ASSERT_TRUE(claim(kT0, "node-a", "t1"));
  store_->updateJob("j1", [](Job& j) {
    j.progress = 50;
    j.leaseExpiresAt = kT0 + 3 * kLease;
    return true;
  });
  auto other = db_->open();
  EXPECT_EQ(other->getJob("j1")->leaseExpiresAt, kT0 + 3 * kLease);
  EXPECT_EQ(other->getJob("j1")->progress, 50);
}

INSTANTIATE_TEST_SUITE_P(Backends, LeaseTest, testing::allBackends(), testing::backendName);

}  // namespace
}  // namespace herald::storage
