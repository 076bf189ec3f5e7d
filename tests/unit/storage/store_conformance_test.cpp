// The store conformance suite: store.h's contract, the same tests against every backend
// (SQLite and MariaDB, store_backends.h). Backend-specific behaviour (SQLite's WAL and
// cache, MariaDB's connection handling) has its own files.
#include <map>
#include <memory>
#include <tuple>
#include <string>
#include <vector>

#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include "store_backends.h"

namespace herald::storage {
namespace {

namespace json = boost::json;
using model::Job;
using model::JobStatus;
using testing::Backend;
using testing::TestDatabase;

class StoreConformanceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    HERALD_SKIP_WITHOUT_BACKEND(GetParam());
    db_ = std::make_unique<TestDatabase>(GetParam());
  }
  void TearDown() override { db_.reset(); }

  StorePtr open() { return db_->open(); }

  std::unique_ptr<TestDatabase> db_;
};

Job makeJob(const std::string& id, std::int64_t createdAt = 1'700'000'000'000) {
  Job job;
  job.id = id;
  job.videoId = "video-1";
  job.userId = "user-1";
  job.jobType = std::string(model::kTranscription);
  job.createdAt = createdAt;
  job.updatedAt = createdAt;
  return job;
}

void expectSameJob(const Job& a, const Job& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.videoId, b.videoId);
  EXPECT_EQ(a.userId, b.userId);
  EXPECT_EQ(a.jobType, b.jobType);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.progress, b.progress);
  EXPECT_EQ(a.currentStage, b.currentStage);
  EXPECT_EQ(a.statusMessage, b.statusMessage);
  EXPECT_EQ(a.errorMessage, b.errorMessage);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.priority, b.priority);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.maxAttempts, b.maxAttempts);
  EXPECT_EQ(a.createdAt, b.createdAt);
  EXPECT_EQ(a.updatedAt, b.updatedAt);
  EXPECT_EQ(a.startedAt, b.startedAt);
  EXPECT_EQ(a.completedAt, b.completedAt);
  EXPECT_EQ(a.sequence, b.sequence);
  EXPECT_EQ(a.availableAt, b.availableAt);
  EXPECT_EQ(a.runner, b.runner);
}

// Writes `job` as the next update of the stored job (the store assigns the sequence);
// returns the change, which must be Updated.
JobChange writeJob(Store& store, const Job& job) {
  auto change = store.updateJob(job.id, [&](Job& stored) {
    stored = job;
    return true;
  });
  EXPECT_EQ(change.outcome, JobChange::Outcome::Updated) << job.id;
  return change;
}

TEST_P(StoreConformanceTest, CreateAndGetRoundTripsAllFields) {
  auto store = open();

  Job full = makeJob("job-full");
  full.status = JobStatus::Running;
  full.progress = 42.125;
  full.currentStage = "Transcribing";
  full.statusMessage = "Chunk 3 of 7 \xE2\x9C\x93";  // non-ASCII survives
  full.errorMessage = "transient: retrying";
  full.metadata = json::value{{"language", "en"},
                              {"chunks", 7},
                              {"ratio", 0.5},
                              {"nested", {{"ok", true}, {"list", {1, 2, 3}}}}}
                      .as_object();
  full.priority = 3;
  full.attempts = 2;
  full.maxAttempts = 5;
  full.createdAt = 1'700'000'000'123;
  full.updatedAt = 1'700'000'000'456;
  full.startedAt = 1'700'000'000'200;
  full.completedAt = 1'700'000'000'400;
  full.sequence = 99;  // overwritten by createJob
  store->createJob(full);
  EXPECT_EQ(full.sequence, 1);

  Job bare;
  bare.id = "job-bare";
  bare.jobType = "SomeExternalType";
  bare.createdAt = 5;
  bare.updatedAt = 6;
  store->createJob(bare);

  auto gotFull = store->getJob("job-full");
  ASSERT_TRUE(gotFull);
  expectSameJob(*gotFull, full);

  auto gotBare = store->getJob("job-bare");
  ASSERT_TRUE(gotBare);
  expectSameJob(*gotBare, bare);
  EXPECT_EQ(gotBare->videoId, "");
  EXPECT_EQ(gotBare->userId, "");
  EXPECT_FALSE(gotBare->errorMessage);
  EXPECT_FALSE(gotBare->startedAt);
  EXPECT_FALSE(gotBare->completedAt);
  EXPECT_TRUE(gotBare->metadata.empty());
  // Empty ids are stored as '', not NULL.
  EXPECT_EQ(db_->count("jobs WHERE id = 'job-bare' AND video_id = '' AND user_id = ''"), 1);

  EXPECT_FALSE(store->getJob("no-such-job"));

  // Creation is history entry 1.
  auto history = store->progressHistory("job-full", 0, 100);
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].jobId, "job-full");
  EXPECT_EQ(history[0].sequence, 1);
  EXPECT_EQ(history[0].status, JobStatus::Running);
  EXPECT_EQ(history[0].progress, 42.125);
  EXPECT_EQ(history[0].currentStage, "Transcribing");
  EXPECT_EQ(history[0].statusMessage, full.statusMessage);
  EXPECT_EQ(history[0].errorMessage, full.errorMessage);
  EXPECT_EQ(history[0].metadata, full.metadata);
  EXPECT_EQ(history[0].updatedAt, full.updatedAt);
}

TEST_P(StoreConformanceTest, CreateDuplicateIdThrowsAndKeepsOriginal) {
  auto store = open();
  Job job = makeJob("dup");
  store->createJob(job);

  Job other = makeJob("dup");
  other.progress = 50;
  other.sequence = 7;
  EXPECT_THROW(store->createJob(other), StoreError);
  EXPECT_EQ(other.sequence, 7);  // restored on failure

  auto got = store->getJob("dup");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->progress, 0);
  EXPECT_EQ(store->progressHistory("dup", 0, 100).size(), 1u);
}

TEST_P(StoreConformanceTest, UpdateJobAdvancesSequenceAndHistory) {
  auto store = open();
  Job job = makeJob("job-1");
  store->createJob(job);

  for (int i = 1; i <= 4; ++i) {
    auto change = store->updateJob("job-1", [&](Job& j) {
      EXPECT_EQ(j.sequence, i);  // the mutator sees the last committed update
      j.status = JobStatus::Running;
      j.progress = i * 20.0;
      j.currentStage = "stage-" + std::to_string(i);
      j.metadata["step"] = i;
      j.updatedAt += 1000;
      if (i == 4) j.errorMessage = "boom";
      return true;
    });
    ASSERT_EQ(change.outcome, JobChange::Outcome::Updated);
    job = change.job;
    const auto& entry = change.entry;
    EXPECT_EQ(job.sequence, i + 1);
    EXPECT_EQ(entry.sequence, i + 1);
    EXPECT_EQ(entry.jobId, "job-1");
    EXPECT_EQ(entry.progress, i * 20.0);
    EXPECT_EQ(entry.currentStage, job.currentStage);
  }

  auto got = store->getJob("job-1");
  ASSERT_TRUE(got);
  expectSameJob(*got, job);
  EXPECT_EQ(got->sequence, 5);

  auto all = store->progressHistory("job-1", 0, 100);
  ASSERT_EQ(all.size(), 5u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].sequence, static_cast<std::int64_t>(i + 1));
  }
  EXPECT_EQ(all[0].status, JobStatus::Pending);
  EXPECT_EQ(all[0].progress, 0);
  EXPECT_TRUE(all[0].metadata.empty());
  EXPECT_EQ(all[2].progress, 40.0);
  EXPECT_EQ(all[2].currentStage, "stage-2");
  EXPECT_EQ(all[2].metadata.at("step"), 2);
  EXPECT_FALSE(all[3].errorMessage);
  EXPECT_EQ(all[4].errorMessage, "boom");

  auto after = store->progressHistory("job-1", 2, 100);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].sequence, 3);
  EXPECT_EQ(after[2].sequence, 5);

  auto limited = store->progressHistory("job-1", 0, 2);
  ASSERT_EQ(limited.size(), 2u);
  EXPECT_EQ(limited[0].sequence, 1);
  EXPECT_EQ(limited[1].sequence, 2);

  auto page = store->progressHistory("job-1", 2, 1);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].sequence, 3);

  EXPECT_EQ(store->progressHistory("job-1", 0, 0).size(), 1u);  // limit clamps to 1
  EXPECT_TRUE(store->progressHistory("job-1", 5, 100).empty());
  EXPECT_TRUE(store->progressHistory("other-job", 0, 100).empty());
}

TEST_P(StoreConformanceTest, UpdateJobOnUnknownJobIsNotFoundAndLeavesNothing) {
  auto store = open();
  bool called = false;
  auto change = store->updateJob("ghost", [&](Job& j) {
    called = true;
    j.progress = 10;
    return true;
  });
  EXPECT_EQ(change.outcome, JobChange::Outcome::NotFound);
  EXPECT_FALSE(called);
  EXPECT_FALSE(store->getJob("ghost"));
  EXPECT_TRUE(store->progressHistory("ghost", 0, 100).empty());
  EXPECT_EQ(db_->count("jobs"), 0);
  EXPECT_EQ(db_->count("job_progress"), 0);

  // The connection is still usable afterwards (no transaction left open).
  Job real = makeJob("real");
  store->createJob(real);
  EXPECT_EQ(writeJob(*store, real).entry.sequence, 2);
  EXPECT_EQ(store->progressHistory("real", 0, 100).size(), 2u);
}

TEST_P(StoreConformanceTest, ListJobsFiltersAndOrdersNewestFirst) {
  auto store = open();
  auto add = [&](const std::string& id, std::int64_t createdAt, JobStatus status,
                 const std::string& user, const std::string& video) {
    Job job = makeJob(id, createdAt);
    job.status = status;
    job.userId = user;
    job.videoId = video;
    store->createJob(job);
  };
  add("a", 100, JobStatus::Pending, "alice", "v1");
  add("b", 300, JobStatus::Running, "alice", "v2");
  add("c", 200, JobStatus::Pending, "bob", "v1");
  add("d", 400, JobStatus::Completed, "bob", "");
  add("e", 400, JobStatus::Pending, "alice", "v1");  // same millisecond as d, inserted later

  auto ids = [](const std::vector<Job>& jobs) {
    std::vector<std::string> out;
    for (const auto& j : jobs) out.push_back(j.id);
    return out;
  };
  using V = std::vector<std::string>;

  EXPECT_EQ(ids(store->listJobs({})), (V{"e", "d", "b", "c", "a"}));

  JobFilter pending;
  pending.status = JobStatus::Pending;
  EXPECT_EQ(ids(store->listJobs(pending)), (V{"e", "c", "a"}));

  JobFilter alice;
  alice.userId = "alice";
  EXPECT_EQ(ids(store->listJobs(alice)), (V{"e", "b", "a"}));

  JobFilter v1;
  v1.videoId = "v1";
  EXPECT_EQ(ids(store->listJobs(v1)), (V{"e", "c", "a"}));

  JobFilter noVideo;
  noVideo.videoId = "";
  EXPECT_EQ(ids(store->listJobs(noVideo)), (V{"d"}));

  JobFilter combined;
  combined.status = JobStatus::Pending;
  combined.userId = "alice";
  combined.videoId = "v1";
  EXPECT_EQ(ids(store->listJobs(combined)), (V{"e", "a"}));

  JobFilter limited;
  limited.limit = 2;
  EXPECT_EQ(ids(store->listJobs(limited)), (V{"e", "d"}));

  JobFilter zero;
  zero.limit = 0;  // clamps to 1
  EXPECT_EQ(ids(store->listJobs(zero)), (V{"e"}));

  JobFilter nobody;
  nobody.userId = "carol";
  EXPECT_TRUE(store->listJobs(nobody).empty());

  // Rows come back complete, not just ids.
  auto listed = store->listJobs(alice);
  auto got = store->getJob("b");
  ASSERT_TRUE(got);
  expectSameJob(listed[1], *got);
}

TEST_P(StoreConformanceTest, VideoSaveGetWithStagesAndReplace) {
  auto store = open();
  EXPECT_FALSE(store->getVideo("vid"));

  model::Video video;
  video.id = "vid";
  video.userId = "alice";
  video.url = "https://example.com/v.mp4";
  video.title = "A talk";
  video.durationSeconds = 3601.5;
  video.processingStatus = model::ProcessingStatus::Processing;
  video.transcriptionStatus = model::TranscriptionStatus::InProgress;
  video.embeddingStatus = model::EmbeddingStatus::Pending;
  video.overallProgress = 33.3;
  video.createdAt = 1000;
  video.updatedAt = 2000;
  model::VideoStage ingestion;
  ingestion.name = "Ingestion";
  ingestion.status = model::StageStatus::Completed;
  ingestion.progress = 100;
  ingestion.startedAt = 1100;
  ingestion.completedAt = 1200;
  model::VideoStage transcription;
  transcription.name = "Transcription";
  transcription.status = model::StageStatus::InProgress;
  transcription.progress = 40;
  transcription.startedAt = 1300;
  model::VideoStage embedding;
  embedding.name = "Embedding";
  embedding.errorMessage = "not yet";
  video.stages = {ingestion, transcription, embedding};
  store->saveVideo(video);

  auto got = store->getVideo("vid");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, "vid");
  EXPECT_EQ(got->userId, "alice");
  EXPECT_EQ(got->url, video.url);
  EXPECT_EQ(got->title, "A talk");
  EXPECT_EQ(got->durationSeconds, 3601.5);
  EXPECT_EQ(got->processingStatus, model::ProcessingStatus::Processing);
  EXPECT_EQ(got->transcriptionStatus, model::TranscriptionStatus::InProgress);
  EXPECT_EQ(got->embeddingStatus, model::EmbeddingStatus::Pending);
  EXPECT_EQ(got->overallProgress, 33.3);
  EXPECT_EQ(got->createdAt, 1000);
  EXPECT_EQ(got->updatedAt, 2000);
  ASSERT_EQ(got->stages.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& a = got->stages[i];
    const auto& b = video.stages[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.progress, b.progress);
    EXPECT_EQ(a.startedAt, b.startedAt);
    EXPECT_EQ(a.completedAt, b.completedAt);
    EXPECT_EQ(a.errorMessage, b.errorMessage);
  }

  // Replace: new field values, fewer stages in a different order.
  video.title = "A better title";
  video.processingStatus = model::ProcessingStatus::Completed;
  video.overallProgress = 100;
  video.updatedAt = 3000;
  embedding.status = model::StageStatus::Completed;
  embedding.errorMessage.reset();
  video.stages = {embedding, ingestion};
  store->saveVideo(video);

  got = store->getVideo("vid");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->title, "A better title");
  EXPECT_EQ(got->processingStatus, model::ProcessingStatus::Completed);
  EXPECT_EQ(got->overallProgress, 100);
  EXPECT_EQ(got->updatedAt, 3000);
  ASSERT_EQ(got->stages.size(), 2u);
  EXPECT_EQ(got->stages[0].name, "Embedding");
  EXPECT_EQ(got->stages[0].status, model::StageStatus::Completed);
  EXPECT_FALSE(got->stages[0].errorMessage);
  EXPECT_EQ(got->stages[1].name, "Ingestion");
  EXPECT_EQ(db_->count("videos"), 1);

  // Saving with no stages clears them.
  video.stages.clear();
  store->saveVideo(video);
  got = store->getVideo("vid");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->stages.empty());
}

TEST_P(StoreConformanceTest, DataSurvivesReopen) {
  Job job = makeJob("job-1");
  {
    auto store = open();
    store->createJob(job);
    job.progress = 60;
    job = writeJob(*store, job).job;
    model::Video video;
    video.id = "vid";
    video.stages.resize(2);
    video.stages[1].name = "Transcription";
    store->saveVideo(video);
  }
  auto store = open();  // reopening also re-runs schema setup on an existing file
  auto got = store->getJob("job-1");
  ASSERT_TRUE(got);
  expectSameJob(*got, job);
  EXPECT_EQ(store->progressHistory("job-1", 0, 100).size(), 2u);
  // The sequence continues where it left off.
  EXPECT_EQ(writeJob(*store, *got).entry.sequence, 3);
  auto video = store->getVideo("vid");
  ASSERT_TRUE(video);
  ASSERT_EQ(video->stages.size(), 2u);
  EXPECT_EQ(video->stages[1].name, "Transcription");
}

TEST_P(StoreConformanceTest, ValuesRoundTripExactly) {
  // Text the SQL layer must not interpret, and doubles that must come back bit for bit.
  auto store = open();
  Job job = makeJob("quotes'\"\\;--%_?");
  job.statusMessage = std::string("nul\0byte, 'quote', \\backslash, ?placeholder", 43);
  job.currentStage = "\xF0\x9F\x8E\xAC emoji";  // 4-byte UTF-8 (utf8mb4)
  job.progress = 0.1 + 0.2;                     // not a short decimal
  job.metadata["big"] = 9007199254740993LL;
  job.metadata["tiny"] = 1e-300;
  store->createJob(job);
  auto got = store->getJob(job.id);
  ASSERT_TRUE(got);
  expectSameJob(*got, job);
  EXPECT_EQ(store->listJobs({}).size(), 1u);
}

TEST_P(StoreConformanceTest, TranscriptsAndEmbeddingsAreReplacedWhole) {
  auto store = open();
  EXPECT_TRUE(store->transcript("vid").empty());
  std::vector<model::TranscriptSegment> segments;
  for (int i = 0; i < 300; ++i) {
    segments.push_back({i * 1.5, i * 1.5 + 1.25, "segment '" + std::to_string(i) + "'"});
  }
  store->saveTranscript("vid", segments);
  auto got = store->transcript("vid");
  ASSERT_EQ(got.size(), segments.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].start, segments[i].start);
    EXPECT_EQ(got[i].end, segments[i].end);
    EXPECT_EQ(got[i].text, segments[i].text);
  }
  store->saveTranscript("vid", {{0, 1, "only"}});
  ASSERT_EQ(store->transcript("vid").size(), 1u);
  EXPECT_EQ(store->transcript("vid")[0].text, "only");

  // Enough rows that a backend splitting its inserts must split them.
  std::vector<std::vector<float>> vectors(700, std::vector<float>(384));
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    for (std::size_t d = 0; d < 384; ++d) vectors[i][d] = static_cast<float>(i) / (d + 1.0f);
  }
  store->saveEmbeddings("vid", "hashing-384", vectors);
  EXPECT_EQ(db_->count("embeddings WHERE video_id = 'vid' AND dimension = 384"), 700);
  store->saveEmbeddings("vid", "hashing-384", {{1.0f, 2.0f}});
  EXPECT_EQ(db_->count("embeddings WHERE video_id = 'vid'"), 1);
}

TEST_P(StoreConformanceTest, BatchIsInvisibleUntilCommitAndRollsBackWhole) {
  auto store = open();
  auto other = open();
  Job job = makeJob("job-1");
  store->createJob(job);

  store->beginBatch();
  Job second = makeJob("job-2");
  store->createJob(second);
  job.progress = 50;
  writeJob(*store, job);
  // The batch sees its own writes; another connection does not, yet.
  EXPECT_EQ(store->getJob("job-1")->progress, 50);
  EXPECT_FALSE(other->getJob("job-2"));
  EXPECT_EQ(other->getJob("job-1")->progress, 0);
  // A failing call inside the batch is undone alone.
  Job dup = makeJob("job-2");
  EXPECT_THROW(store->createJob(dup), StoreError);
  store->commitBatch();
  EXPECT_TRUE(other->getJob("job-2"));
  EXPECT_EQ(other->getJob("job-1")->progress, 50);
  EXPECT_EQ(other->getJob("job-1")->sequence, 2);

  store->beginBatch();
  job.progress = 75;
  writeJob(*store, job);
  Job third = makeJob("job-3");
  store->createJob(third);
  store->rollbackBatch();
  EXPECT_FALSE(other->getJob("job-3"));
  EXPECT_EQ(other->getJob("job-1")->progress, 50);
  // The store goes on after a rollback, and the sequence has no gap.
  job.progress = 80;
  EXPECT_EQ(writeJob(*store, job).entry.sequence, 3);
}

TEST_P(StoreConformanceTest, TwoStoreObjectsSeeEachOthersCommits) {
  auto a = open();
  auto b = open();
  Job job = makeJob("job-1");
  a->createJob(job);
  ASSERT_TRUE(b->getJob("job-1"));
  job.progress = 10;
  EXPECT_EQ(writeJob(*b, job).entry.sequence, 2);
  // `a` sees b's update (no stale cache) and continues the sequence.
  auto change = a->updateJob("job-1", [](Job& j) {
    EXPECT_EQ(j.progress, 10);
    j.progress = 20;
    return true;
  });
  EXPECT_EQ(change.entry.sequence, 3);
  EXPECT_EQ(b->progressHistory("job-1", 0, 10).size(), 3u);
}

TEST_P(StoreConformanceTest, ListJobsFiltersByTypeAndPagesWithOffset) {
  auto store = open();
  for (int i = 0; i < 5; ++i) {
    Job job = makeJob("page-" + std::to_string(i), 1'700'000'000'000 + i);
    job.jobType = i % 2 ? "Odd" : "Even";
    store->createJob(job);
  }
  auto ids = [](const std::vector<Job>& jobs) {
    std::vector<std::string> out;
    for (const auto& j : jobs) out.push_back(j.id);
    return out;
  };
  JobFilter filter;
  filter.jobType = "Even";
  EXPECT_EQ(ids(store->listJobs(filter)), (std::vector<std::string>{"page-4", "page-2", "page-0"}));
  filter.offset = 1;
  filter.limit = 1;
  EXPECT_EQ(ids(store->listJobs(filter)), (std::vector<std::string>{"page-2"}));
  JobFilter all;
  all.limit = 2;
  all.offset = 4;
  EXPECT_EQ(ids(store->listJobs(all)), (std::vector<std::string>{"page-0"}));
  all.offset = 5;
  EXPECT_TRUE(store->listJobs(all).empty());
  all.offset = -3;  // treated as 0, never an SQL error
  EXPECT_EQ(store->listJobs(all).size(), 2u);
}

// Keyset paging (JobFilter::afterId, forEachJob): pages continue after a job, ties in one
// millisecond broken by insertion order as in the list itself; jobs leaving the filter
// between pages shift nothing.
TEST_P(StoreConformanceTest, ListJobsPagesByKeysetThroughTiesAndChanges) {
  auto store = open();
  std::vector<std::string> expected;  // newest first
  for (int i = 0; i < 7; ++i) {
    // Pairs of jobs in one millisecond: 0 and 1, 2 and 3, ...
    Job job = makeJob("k-" + std::to_string(i), 1'700'000'000'000 + i / 2);
    job.videoId = "v-keyset";
    store->createJob(job);
    expected.insert(expected.begin(), job.id);
  }
  Job other = makeJob("elsewhere", 1'700'000'000'000);
  store->createJob(other);
  auto ids = [](const std::vector<Job>& jobs) {
    std::vector<std::string> out;
    for (const auto& j : jobs) out.push_back(j.id);
    return out;
  };
  JobFilter filter;
  filter.videoId = "v-keyset";
  filter.limit = 3;
  EXPECT_EQ(ids(store->listJobs(filter)), (std::vector<std::string>{"k-6", "k-5", "k-4"}));
  filter.afterId = "k-4";
  EXPECT_EQ(ids(store->listJobs(filter)), (std::vector<std::string>{"k-3", "k-2", "k-1"}));
  filter.afterId = "k-1";
  EXPECT_EQ(ids(store->listJobs(filter)), (std::vector<std::string>{"k-0"}));
  filter.afterId = "no-such-job";
  EXPECT_TRUE(store->listJobs(filter).empty());

  // A walk that completes every job it visits, each leaving the Pending filter: every one
  // is seen once (offset paging would skip a page's worth each time).
  JobFilter pending;
  pending.videoId = "v-keyset";
  pending.status = JobStatus::Pending;
  pending.limit = 2;
  std::vector<std::string> seen;
  forEachJob(*store, pending, [&](const Job& job) {
    seen.push_back(job.id);
    store->updateJob(job.id, [](Job& j) {
      j.status = JobStatus::Completed;
      return true;
    });
  });
  EXPECT_EQ(seen, expected);
  EXPECT_TRUE(store->listJobs(pending).empty());
  EXPECT_EQ(store->getJob("elsewhere")->status, JobStatus::Pending);
}

TEST_P(StoreConformanceTest, CountJobsGroupsByStatusTypeAndPriority) {
  auto store = open();
  EXPECT_TRUE(store->countJobs().empty());
  for (int i = 0; i < 4; ++i) {
    Job job = makeJob("count-" + std::to_string(i));
    job.priority = i < 2 ? 3 : 0;
    store->createJob(job);
  }
  store->updateJob("count-0", [](Job& j) {
    j.status = JobStatus::Running;
    return true;
  });
  auto counts = store->countJobs();
  std::map<std::tuple<JobStatus, std::string, int>, std::int64_t> got;
  for (const auto& c : counts) got[{c.status, c.jobType, c.priority}] = c.count;
  const std::string t(model::kTranscription);
  EXPECT_EQ(got, (std::map<std::tuple<JobStatus, std::string, int>, std::int64_t>{
                     {{JobStatus::Pending, t, 3}, 1},
                     {{JobStatus::Running, t, 3}, 1},
                     {{JobStatus::Pending, t, 0}, 2}}));
}

TEST_P(StoreConformanceTest, QueueDepthCountsPendingJobsByTypeAndPriority) {
  auto store = open();
  EXPECT_TRUE(store->queueDepth().empty());
  for (int i = 0; i < 3; ++i) {
    Job job = makeJob("depth-" + std::to_string(i));
    job.priority = i == 0 ? 2 : 0;
    store->createJob(job);
  }
  store->updateJob("depth-1", [](Job& j) {
    j.status = JobStatus::Running;
    return true;
  });
  auto depth = store->queueDepth();
  std::map<std::pair<std::string, int>, std::int64_t> got;
  for (const auto& d : depth) got[{d.jobType, d.priority}] = d.count;
  const std::string t(model::kTranscription);
  EXPECT_EQ(got, (std::map<std::pair<std::string, int>, std::int64_t>{{{t, 0}, 1}, {{t, 2}, 1}}));
  EXPECT_NO_THROW(store->ping());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformanceTest, testing::allBackends(),
                         testing::backendName);

}  // namespace
}  // namespace herald::storage
