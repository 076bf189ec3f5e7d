// The multi-writer contract of store.h, end to end, against every backend: two threads,
// each with its own Store object (its own SQLite connection to one file, or its own
// MariaDB connection, as two processes or nodes would have), report to one job and claim
// from one queue at the same time. Whatever the interleaving, the result must be exact: every
// report recorded once with a unique, gap-free sequence, every job claimed exactly once.
#include <algorithm>
#include <latch>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store_backends.h"

namespace herald::storage {
namespace {

using model::Job;
using model::JobStatus;

constexpr int kWriters = 2;
constexpr int kReportsPerWriter = 500;
constexpr int kQueuedJobs = 200;
constexpr std::int64_t kT0 = 1'700'000'000'000;

struct WriterResult {
  std::vector<std::string> claimed;
  std::string error;  // a failure inside the thread, reported by the main thread
};

class ConcurrentWritersTest : public ::testing::TestWithParam<testing::Backend> {
 protected:
  void SetUp() override {
    HERALD_SKIP_WITHOUT_BACKEND(GetParam());
    db_ = std::make_unique<testing::TestDatabase>(GetParam());
    auto setupStore = db_->open();
    Store& setup = *setupStore;
    Job shared;
    shared.id = "shared";
    shared.jobType = "External";
    shared.status = JobStatus::Running;
    shared.metadata["count"] = 0;
    shared.createdAt = shared.updatedAt = kT0;
    setup.createJob(shared);
    setup.beginBatch();
    for (int i = 0; i < kQueuedJobs; ++i) {
      Job job;
      job.id = "queued-" + std::to_string(i);
      job.jobType = "Transcription";
      job.runner = std::string(model::kRunnerHerald);
      job.priority = i % 4;
      job.createdAt = job.updatedAt = kT0 + i;
      setup.createJob(job);
    }
    setup.commitBatch();
  }
  void TearDown() override { db_.reset(); }

  // Each writer alternates a report to "shared" with a claim until it has made all its
  // reports and the queue is empty; with `batchSize` > 0 it groups that many calls into
  // one beginBatch/commitBatch.
  static void runWriter(const testing::TestDatabase& db, int writer, int batchSize,
                        std::latch& start, WriterResult& out) {
    try {
      auto storePtr = db.open();
      Store& store = *storePtr;
      start.arrive_and_wait();
      int reports = 0;
      bool queueEmpty = false;
      int inBatch = 0;
      while (reports < kReportsPerWriter || !queueEmpty) {
        if (batchSize > 0 && inBatch == 0) store.beginBatch();
        if (reports < kReportsPerWriter) {
          const std::string message = "w" + std::to_string(writer) + "-" + std::to_string(reports);
          auto change = store.updateJob("shared", [&](Job& j) {
            // A lost update would show as a count below the number of reports.
            j.metadata["count"] = j.metadata.at("count").as_int64() + 1;
            j.statusMessage = message;
            j.progress = std::min(100.0, j.progress + 0.05);
            return true;
          });
          if (change.outcome != JobChange::Outcome::Updated) {
            throw std::runtime_error("report not Updated");
          }
          ++reports;
        }
        if (!queueEmpty) {
          auto claim = store.claimNextJob(kT0 + kQueuedJobs, {}, [](Job& j) {
            j.status = JobStatus::Running;
            j.attempts += 1;
            return true;
          });
          if (claim) {
            out.claimed.push_back(claim->job.id);
          } else {
            queueEmpty = true;
          }
        }
        if (batchSize > 0 && ++inBatch == batchSize) {
          store.commitBatch();
          inBatch = 0;
        }
      }
      if (inBatch > 0) store.commitBatch();
    } catch (const std::exception& e) {
      out.error = e.what();
    }
  }

  void runAndCheck(int batchSize) {
    std::vector<WriterResult> results(kWriters);
    {
      std::latch start(kWriters);
      std::vector<std::thread> threads;
      for (int w = 0; w < kWriters; ++w) {
        threads.emplace_back(runWriter, std::cref(*db_), w, batchSize, std::ref(start),
                             std::ref(results[w]));
      }
      for (auto& t : threads) t.join();
    }
    for (const auto& r : results) ASSERT_EQ(r.error, "");

    auto checkStore = db_->open();
    Store& check = *checkStore;
    // Reports: sequence 1 (creation) + one per report, no gap, none lost.
    constexpr int kReports = kWriters * kReportsPerWriter;
    auto shared = check.getJob("shared");
    ASSERT_TRUE(shared);
    EXPECT_EQ(shared->sequence, 1 + kReports);
    EXPECT_EQ(shared->metadata.at("count").as_int64(), kReports);
    // A read returns at most a page of 1,000: read them all.
    std::vector<model::ProgressEntry> history;
    for (;;) {
      auto page =
          check.progressHistory("shared", history.empty() ? 0 : history.back().sequence, 1000);
      if (page.empty()) break;
      history.insert(history.end(), page.begin(), page.end());
    }
    ASSERT_EQ(history.size(), static_cast<std::size_t>(1 + kReports));
    std::set<std::string> messages;
    for (std::size_t i = 0; i < history.size(); ++i) {
      EXPECT_EQ(history[i].sequence, static_cast<std::int64_t>(i + 1));
      // Each entry is the state its own report wrote: the count rose by one per entry.
      EXPECT_EQ(history[i].metadata.at("count").as_int64(), static_cast<std::int64_t>(i));
      if (i > 0) messages.insert(history[i].statusMessage);
    }
    EXPECT_EQ(messages.size(), static_cast<std::size_t>(kReports));
    for (int w = 0; w < kWriters; ++w) {
      for (int i = 0; i < kReportsPerWriter; ++i) {
        EXPECT_TRUE(messages.contains("w" + std::to_string(w) + "-" + std::to_string(i)));
      }
    }

    // Claims: every queued job exactly once, by one writer.
    std::vector<std::string> all;
    for (const auto& r : results) all.insert(all.end(), r.claimed.begin(), r.claimed.end());
    std::set<std::string> unique(all.begin(), all.end());
    EXPECT_EQ(all.size(), static_cast<std::size_t>(kQueuedJobs)) << "a job was claimed twice";
    EXPECT_EQ(unique.size(), static_cast<std::size_t>(kQueuedJobs));
    for (int i = 0; i < kQueuedJobs; ++i) {
      const std::string id = "queued-" + std::to_string(i);
      EXPECT_TRUE(unique.contains(id)) << id;
      auto job = check.getJob(id);
      ASSERT_TRUE(job);
      EXPECT_EQ(job->status, JobStatus::Running);
      EXPECT_EQ(job->attempts, 1);
      EXPECT_EQ(job->sequence, 2);
      EXPECT_EQ(check.progressHistory(id, 0, 100).size(), 2u);
    }
    // Each writer's claims came out in queue order (priority, then age): later claims never
    // beat earlier ones, whoever made them.
    for (const auto& r : results) {
      for (std::size_t i = 1; i < r.claimed.size(); ++i) {
        auto a = check.getJob(r.claimed[i - 1]);
        auto b = check.getJob(r.claimed[i]);
        EXPECT_TRUE(a->priority > b->priority ||
                    (a->priority == b->priority && a->createdAt < b->createdAt))
            << r.claimed[i - 1] << " before " << r.claimed[i];
      }
    }
  }

  std::unique_ptr<testing::TestDatabase> db_;
};

TEST_P(ConcurrentWritersTest, TwoStoresReportAndClaimWithoutLossOrDuplicates) { runAndCheck(0); }

TEST_P(ConcurrentWritersTest, TwoStoresWithGroupCommitReportAndClaimExactly) { runAndCheck(10); }

INSTANTIATE_TEST_SUITE_P(Backends, ConcurrentWritersTest, testing::allBackends(),
                         testing::backendName);

}  // namespace
}  // namespace herald::storage
