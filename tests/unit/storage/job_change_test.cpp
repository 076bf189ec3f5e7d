// The read-modify-write API of Store (updateJob, claimNextJob, updateVideo), one
// connection at a time, against every backend (store_backends.h);
// concurrent_writers_test.cpp runs it from two.
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

class JobChangeTest : public testing::StoreOnBackendTest {
 protected:
  Job create(const std::string& id, int priority = 0, std::int64_t createdAt = kT0,
             std::string jobType = "Transcription", std::string runner = "herald") {
    Job job;
    job.id = id;
    job.jobType = std::move(jobType);
    job.priority = priority;
    job.createdAt = createdAt;
    job.updatedAt = createdAt;
    job.runner = std::move(runner);
    store_->createJob(job);
    return job;
  }

  // Claims with a mutator that starts the job; returns the claimed id or "".
  std::string claim(std::int64_t now, const ClaimFilter& filter = {}) {
    auto change = store_->claimNextJob(now, filter, [](Job& j) {
      j.status = JobStatus::Running;
      j.attempts += 1;
      return true;
    });
    if (!change) return "";
    EXPECT_EQ(change->outcome, Outcome::Updated);
    return change->job.id;
  }
};

TEST_P(JobChangeTest, UpdateJobWritesTheJobAndItsNextHistoryEntry) {
  create("j1");
  auto change = store_->updateJob("j1", [](Job& j) {
    j.progress = 40;
    j.currentStage = "Transcribing";
    j.metadata["k"] = 1;
    j.updatedAt = kT0 + 5;
    j.sequence = 77;  // ignored: the store assigns sequences
    return true;
  });
  EXPECT_EQ(change.outcome, Outcome::Updated);
  EXPECT_EQ(change.job.sequence, 2);
  EXPECT_EQ(change.job.progress, 40);
  EXPECT_EQ(change.entry.jobId, "j1");
  EXPECT_EQ(change.entry.sequence, 2);
  EXPECT_EQ(change.entry.currentStage, "Transcribing");
  EXPECT_EQ(change.entry.updatedAt, kT0 + 5);

  auto stored = store_->getJob("j1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->sequence, 2);
  EXPECT_EQ(stored->progress, 40);
  EXPECT_EQ(stored->metadata.at("k").as_int64(), 1);
  auto history = store_->progressHistory("j1", 0, 100);
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].sequence, 2);
  EXPECT_EQ(history[1].progress, 40);

  // A fresh connection reads the same (nothing lives only in the cache).
  auto otherStore = db_->open();
  Store& other = *otherStore;
  EXPECT_EQ(other.getJob("j1")->progress, 40);
}

TEST_P(JobChangeTest, UpdateJobMutatorSeesTheStoredJobAndMayChangeIdentity) {
  create("j1", 1);
  store_->updateJob("j1", [](Job& j) {
    j.status = JobStatus::Running;
    return true;
  });
  auto change = store_->updateJob("j1", [](Job& j) {
    EXPECT_EQ(j.status, JobStatus::Running);
    EXPECT_EQ(j.sequence, 2);
    j.priority = 3;  // not a progress column: written through the full row
    j.status = JobStatus::Completed;
    return true;
  });
  EXPECT_EQ(change.job.sequence, 3);
  auto otherStore = db_->open();
  Store& other = *otherStore;
  EXPECT_EQ(other.getJob("j1")->priority, 3);
  EXPECT_EQ(other.getJob("j1")->status, JobStatus::Completed);
}

TEST_P(JobChangeTest, UpdateJobUnchangedWritesNothing) {
  create("j1");
  auto change = store_->updateJob("j1", [](Job& j) {
    j.progress = 99;  // discarded
    return false;
  });
  EXPECT_EQ(change.outcome, Outcome::Unchanged);
  EXPECT_EQ(change.job.progress, 0);
  EXPECT_EQ(change.job.sequence, 1);
  EXPECT_EQ(store_->getJob("j1")->progress, 0);
  EXPECT_EQ(store_->progressHistory("j1", 0, 100).size(), 1u);
}

TEST_P(JobChangeTest, UpdateJobNotFoundNeverCallsTheMutator) {
  bool called = false;
  auto change = store_->updateJob("ghost", [&](Job&) {
    called = true;
    return true;
  });
  EXPECT_EQ(change.outcome, Outcome::NotFound);
  EXPECT_FALSE(called);
}

TEST_P(JobChangeTest, UpdateJobThatThrowsOrChangesTheIdLeavesNothing) {
  create("j1");
  EXPECT_THROW(store_->updateJob("j1",
                                 [](Job& j) -> bool {
                                   j.progress = 50;
                                   throw std::runtime_error("boom");
                                 }),
               std::runtime_error);
  EXPECT_THROW(store_->updateJob("j1",
                                 [](Job& j) {
                                   j.id = "other";
                                   return true;
                                 }),
               StoreError);
  EXPECT_EQ(store_->getJob("j1")->progress, 0);
  EXPECT_EQ(store_->getJob("j1")->sequence, 1);
  EXPECT_FALSE(store_->getJob("other"));
}

TEST_P(JobChangeTest, UpdateJobInsideABatchIsASavepoint) {
  create("j1");
  store_->beginBatch();
  store_->updateJob("j1", [](Job& j) {
    j.progress = 10;
    return true;
  });
  EXPECT_THROW(store_->updateJob("j1",
                                 [](Job& j) -> bool {
                                   j.progress = 20;
                                   throw std::runtime_error("boom");
                                 }),
               std::runtime_error);
  auto third = store_->updateJob("j1", [](Job& j) {
    EXPECT_EQ(j.progress, 10);
    j.progress = 30;
    return true;
  });
  EXPECT_EQ(third.job.sequence, 3);
  store_->commitBatch();
  EXPECT_EQ(store_->progressHistory("j1", 0, 100).size(), 3u);

  store_->beginBatch();
  store_->updateJob("j1", [](Job& j) {
    j.progress = 40;
    return true;
  });
  store_->rollbackBatch();
  EXPECT_EQ(store_->getJob("j1")->progress, 30);
  EXPECT_EQ(store_->getJob("j1")->sequence, 3);
}

TEST_P(JobChangeTest, ClaimTakesHighestPriorityThenOldest) {
  create("old-low", 0, kT0);
  create("new-high", 2, kT0 + 20);
  create("old-high", 2, kT0 + 10);
  EXPECT_EQ(claim(kT0 + 100), "old-high");
  EXPECT_EQ(claim(kT0 + 100), "new-high");
  EXPECT_EQ(claim(kT0 + 100), "old-low");
  EXPECT_EQ(claim(kT0 + 100), "");
}

TEST_P(JobChangeTest, ClaimWritesTheJobAndItsHistoryEntry) {
  create("j1");
  auto change = store_->claimNextJob(kT0, {}, [](Job& j) {
    EXPECT_EQ(j.status, JobStatus::Pending);
    j.status = JobStatus::Running;
    j.attempts += 1;
    j.startedAt = kT0 + 1;
    j.currentStage = "Starting";
    return true;
  });
  ASSERT_TRUE(change);
  EXPECT_EQ(change->outcome, Outcome::Updated);
  EXPECT_EQ(change->job.sequence, 2);
  EXPECT_EQ(change->entry.sequence, 2);
  EXPECT_EQ(change->entry.status, JobStatus::Running);
  auto otherStore = db_->open();
  Store& other = *otherStore;
  auto stored = other.getJob("j1");
  EXPECT_EQ(stored->status, JobStatus::Running);
  EXPECT_EQ(stored->attempts, 1);
  EXPECT_EQ(stored->startedAt, kT0 + 1);
  EXPECT_EQ(other.progressHistory("j1", 0, 100).size(), 2u);
}

TEST_P(JobChangeTest, ClaimRespectsAvailableAt) {
  create("later");
  store_->updateJob("later", [](Job& j) {
    j.availableAt = kT0 + 1000;
    return true;
  });
  EXPECT_EQ(claim(kT0 + 999), "");
  EXPECT_EQ(claim(kT0 + 1000), "later");
}

TEST_P(JobChangeTest, ClaimFiltersByRunnerAndJobType) {
  create("ext", 3, kT0, "Transcription", "");  // an external worker's job
  create("emb", 2, kT0, "EmbeddingGeneration");
  create("tr", 1, kT0, "Transcription");
  create("vp", 0, kT0, "VideoProcessing");

  ClaimFilter types;
  types.jobTypes = {"Transcription", "VideoProcessing"};
  EXPECT_EQ(claim(kT0, types), "tr");
  EXPECT_EQ(claim(kT0, types), "vp");
  EXPECT_EQ(claim(kT0, types), "");
  EXPECT_EQ(claim(kT0), "emb");  // any type, runner herald
  EXPECT_EQ(claim(kT0), "");
  ClaimFilter external;
  external.runner = "";
  EXPECT_EQ(claim(kT0, external), "ext");
}

TEST_P(JobChangeTest, ClaimNothingRunnableAndDeclined) {
  EXPECT_FALSE(store_->claimNextJob(kT0, {}, [](Job&) { return true; }));
  create("j1");
  store_->updateJob("j1", [](Job& j) {
    j.status = JobStatus::Completed;
    return true;
  });
  EXPECT_FALSE(store_->claimNextJob(kT0, {}, [](Job&) { return true; }));

  create("j2");
  auto declined = store_->claimNextJob(kT0, {}, [](Job& j) {
    j.status = JobStatus::Running;
    return false;
  });
  ASSERT_TRUE(declined);
  EXPECT_EQ(declined->outcome, Outcome::Unchanged);
  EXPECT_EQ(declined->job.id, "j2");
  EXPECT_EQ(store_->getJob("j2")->status, JobStatus::Pending);
  EXPECT_EQ(claim(kT0), "j2");  // still claimable
}

TEST_P(JobChangeTest, UpdateVideoCreatesChangesAndDeclines) {
  auto created = store_->updateVideo("v1", [](std::optional<model::Video>& v) {
    EXPECT_FALSE(v);
    v.emplace();
    v->title = "first";
    v->stages.push_back({.name = "Ingestion"});
    return true;
  });
  ASSERT_TRUE(created);
  EXPECT_EQ(created->id, "v1");
  EXPECT_EQ(store_->getVideo("v1")->title, "first");

  auto changed = store_->updateVideo("v1", [](std::optional<model::Video>& v) {
    EXPECT_TRUE(v);
    EXPECT_EQ(v->stages.size(), 1u);
    v->overallProgress = 50;
    v->stages[0].status = model::StageStatus::Completed;
    return true;
  });
  ASSERT_TRUE(changed);
  auto stored = store_->getVideo("v1");
  EXPECT_EQ(stored->overallProgress, 50);
  EXPECT_EQ(stored->stages.at(0).status, model::StageStatus::Completed);

  auto declined = store_->updateVideo("v1", [](std::optional<model::Video>& v) {
    v->title = "discarded";
    return false;
  });
  EXPECT_EQ(declined->title, "first");
  EXPECT_EQ(store_->getVideo("v1")->title, "first");

  EXPECT_FALSE(store_->updateVideo("none", [](std::optional<model::Video>&) { return false; }));
  EXPECT_THROW(store_->updateVideo("v1",
                                   [](std::optional<model::Video>& v) {
                                     v.reset();
                                     return true;
                                   }),
               StoreError);
  EXPECT_TRUE(store_->getVideo("v1"));
}

INSTANTIATE_TEST_SUITE_P(Backends, JobChangeTest, testing::allBackends(), testing::backendName);

}  // namespace
}  // namespace herald::storage
