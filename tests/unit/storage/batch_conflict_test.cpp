// Two nodes' batches that lock the same jobs in the opposite order (MariaDB, one
// connection each): InnoDB breaks the deadlock by undoing one batch whole. That batch's
// commitBatch throws StoreConflict — nothing of it written, safe to run again — and the
// other batch commits. (Found by three nodes reporting to the same jobs: 10 % of reports
// failed with 500 before ProgressService ran such a batch again.)
#include <latch>
#include <thread>

#include <gtest/gtest.h>

#include "store_backends.h"

namespace herald::storage {
namespace {

using model::Job;
using model::JobStatus;

constexpr std::int64_t kT0 = 1'700'000'000'000;

struct BatchOutcome {
  bool conflict = false;
  std::string error;  // anything else, reported by the main thread
};

TEST(BatchConflict, ADeadlockUndoesOneBatchWholeAndSaysSo) {
  HERALD_SKIP_WITHOUT_BACKEND(testing::Backend::MariaDb);
  testing::TestDatabase db(testing::Backend::MariaDb);
  {
    auto setup = db.open();
    for (const char* id : {"j1", "j2"}) {
      Job job;
      job.id = id;
      job.jobType = "External";
      job.status = JobStatus::Running;
      job.createdAt = job.updatedAt = kT0;
      setup->createJob(job);
    }
  }
  auto a = db.open();
  auto b = db.open();
  const auto bump = [](const char* tag) {
    return [tag](Job& j) {
      j.statusMessage = tag;
      return true;
    };
  };
  // Each batch locks its first job, then both reach for the other's.
  a->beginBatch();
  a->updateJob("j1", bump("a"));
  b->beginBatch();
  b->updateJob("j2", bump("b"));
  std::latch go(2);
  BatchOutcome outcomes[2];
  auto second = [&go](Store& store, const char* jobId, const char* tag, BatchOutcome& out) {
    go.arrive_and_wait();
    try {
      store.updateJob(jobId, [tag](Job& j) {
        j.statusMessage = tag;
        return true;
      });
    } catch (const StoreError&) {
      // The deadlock victim: its batch is gone; commitBatch says how.
    }
    try {
      store.commitBatch();
    } catch (const StoreConflict&) {
      out.conflict = true;
    } catch (const std::exception& e) {
      out.error = e.what();
    }
  };
  std::thread ta(second, std::ref(*a), "j2", "a", std::ref(outcomes[0]));
  std::thread tb(second, std::ref(*b), "j1", "b", std::ref(outcomes[1]));
  ta.join();
  tb.join();
  ASSERT_EQ(outcomes[0].error, "");
  ASSERT_EQ(outcomes[1].error, "");
  ASSERT_NE(outcomes[0].conflict, outcomes[1].conflict) << "exactly one batch is undone";
  const std::string winner = outcomes[0].conflict ? "b" : "a";
  // The winner's two updates are there; of the loser's nothing.
  auto check = db.open();
  for (const char* id : {"j1", "j2"}) {
    auto job = check->getJob(id);
    ASSERT_TRUE(job);
    EXPECT_EQ(job->statusMessage, winner) << id;
    EXPECT_EQ(job->sequence, 2) << id;
    EXPECT_EQ(check->progressHistory(id, 0, 10).size(), 2u) << id;
  }
  // The loser's store goes on: a new batch works.
  Store& loser = outcomes[0].conflict ? *a : *b;
  loser.beginBatch();
  loser.updateJob("j1", bump("again"));
  loser.commitBatch();
  EXPECT_EQ(check->getJob("j1")->sequence, 3);
}

}  // namespace
}  // namespace herald::storage
