// SqliteStore against real files: each test gets its own temporary directory, so WAL,
// reopening and directory creation are exercised as in production.
#include "storage/sqlite/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <tuple>
#include <memory>
#include <random>
#include <string>

#include <boost/json/value.hpp>
#include <gtest/gtest.h>

namespace herald::storage {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using model::Job;
using model::JobStatus;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    std::random_device rd;
    dir_ = fs::temp_directory_path() / ("herald_sqlite_store_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter++) + "_" + std::to_string(rd()));
    fs::create_directories(dir_);
    path_ = (dir_ / "herald.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<SqliteStore> open() { return std::make_unique<SqliteStore>(path_); }

  // Runs SQL through a connection of our own, bypassing the store.
  void rawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string what = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << what;
  }
  std::string rawQueryText(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      auto* p = sqlite3_column_text(st, 0);
      out = p ? reinterpret_cast<const char*>(p) : "";
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  fs::path dir_;
  std::string path_;
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

TEST_F(SqliteStoreTest, CreateAndGetRoundTripsAllFields) {
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
  EXPECT_EQ(rawQueryText("SELECT typeof(video_id) FROM jobs WHERE id = 'job-bare'"), "text");

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

TEST_F(SqliteStoreTest, CreateDuplicateIdThrowsAndKeepsOriginal) {
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

TEST_F(SqliteStoreTest, UpdateJobAdvancesSequenceAndHistory) {
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

TEST_F(SqliteStoreTest, UpdateJobOnUnknownJobIsNotFoundAndLeavesNothing) {
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
  EXPECT_EQ(rawQueryText("SELECT count(*) FROM jobs"), "0");
  EXPECT_EQ(rawQueryText("SELECT count(*) FROM job_progress"), "0");

  // The connection is still usable afterwards (no transaction left open).
  Job real = makeJob("real");
  store->createJob(real);
  EXPECT_EQ(writeJob(*store, real).entry.sequence, 2);
  EXPECT_EQ(store->progressHistory("real", 0, 100).size(), 2u);
}

TEST_F(SqliteStoreTest, UpdateJobRollsBackJobRowWhenHistoryInsertFails) {
  auto store = open();
  Job job = makeJob("job-1");
  store->createJob(job);
  // Occupy sequence 2 behind the store's back so the history insert collides.
  rawExec(
      "INSERT INTO job_progress (job_id, sequence, status, updated_at) "
      "VALUES ('job-1', 2, 'Running', 0)");

  auto setProgress = [](Job& j) {
    j.progress = 75;
    return true;
  };
  EXPECT_THROW(store->updateJob("job-1", setProgress), StoreError);

  auto got = store->getJob("job-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->progress, 0);  // the UPDATE was rolled back with the failed INSERT
  EXPECT_EQ(got->sequence, 1);
  EXPECT_EQ(rawQueryText("SELECT progress || '/' || sequence FROM jobs"), "0.0/1");

  // Once the collision is gone the same update succeeds, from the committed job.
  rawExec("DELETE FROM job_progress WHERE job_id = 'job-1' AND sequence = 2");
  auto change = store->updateJob("job-1", setProgress);
  EXPECT_EQ(change.outcome, JobChange::Outcome::Updated);
  EXPECT_EQ(change.entry.sequence, 2);
  EXPECT_EQ(rawQueryText("SELECT progress || '/' || sequence FROM jobs"), "75.0/2");
}

TEST_F(SqliteStoreTest, CachedJobsFollowWritesByOtherConnections) {
  auto store = open();
  Job job = makeJob("job-1");
  store->createJob(job);
  ASSERT_EQ(store->getJob("job-1")->progress, 0);  // now cached
  rawExec("UPDATE jobs SET progress = 42, current_stage = 'elsewhere' WHERE id = 'job-1'");
  auto got = store->getJob("job-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->progress, 42);
  EXPECT_EQ(got->currentStage, "elsewhere");
  rawExec("DELETE FROM job_progress; DELETE FROM jobs");
  EXPECT_FALSE(store->getJob("job-1"));
}

TEST_F(SqliteStoreTest, RolledBackBatchLeavesNoCachedWrites) {
  auto store = open();
  Job job = makeJob("job-1");
  store->createJob(job);
  store->beginBatch();
  job.progress = 80;
  EXPECT_EQ(writeJob(*store, job).job.sequence, 2);
  EXPECT_EQ(store->getJob("job-1")->progress, 80);  // visible inside the batch
  store->rollbackBatch();
  auto got = store->getJob("job-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->progress, 0);
  EXPECT_EQ(got->sequence, 1);
}

TEST_F(SqliteStoreTest, CachedJobIsWhatTheFileHoldsAfterProgressAndIdentityUpdates) {
  // A progress update writes only the progress columns (rows.cpp), a change of identity
  // the whole row; either way the cached job must be exactly what another connection
  // reads from the file.
  auto store = open();
  Job job = makeJob("job-1");
  job.priority = 1;
  store->createJob(job);
  auto fromFile = [&] {
    auto got = open()->getJob("job-1");
    EXPECT_TRUE(got);
    return got.value_or(Job{});
  };

  store->updateJob("job-1", [](Job& j) {
    j.progress = 10;
    return true;
  });
  auto got = store->getJob("job-1");  // from the cache
  ASSERT_TRUE(got);
  EXPECT_EQ(got->priority, 1);
  EXPECT_EQ(got->progress, 10);
  EXPECT_EQ(got->sequence, 2);
  expectSameJob(*got, fromFile());

  store->updateJob("job-1", [](Job& j) {
    j.priority = 9;  // not a column a progress update writes: the full row is
    j.progress = 20;
    return true;
  });
  got = store->getJob("job-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->priority, 9);
  EXPECT_EQ(got->progress, 20);
  EXPECT_EQ(got->sequence, 3);
  expectSameJob(*got, fromFile());
  EXPECT_EQ(rawQueryText("SELECT priority || '/' || progress || '/' || sequence FROM jobs"),
            "9/20.0/3");
}

TEST_F(SqliteStoreTest, EveryColumnAProgressUpdateChangesReachesTheFile) {
  auto store = open();
  Job job = makeJob("job-1");
  store->createJob(job);
  job.status = JobStatus::Running;  // a status change
  job.progress = 10;
  writeJob(*store, job);
  job.progress = 20;  // same status: the narrower UPDATE
  job.currentStage = "half";
  job.attempts = 2;
  writeJob(*store, job);
  EXPECT_EQ(rawQueryText("SELECT status || '/' || progress || '/' || current_stage || '/' || "
                         "attempts || '/' || sequence FROM jobs"),
            "Running/20.0/half/2/3");
  job.status = JobStatus::Completed;
  job.availableAt = 5;
  writeJob(*store, job);
  EXPECT_EQ(rawQueryText("SELECT status || '/' || available_at || '/' || sequence FROM jobs"),
            "Completed/5/4");
  // Another connection changed the status meanwhile: the next update must write it back.
  rawExec("UPDATE jobs SET status = 'Failed'");
  auto change = store->updateJob("job-1", [](Job& j) {
    EXPECT_EQ(j.status, JobStatus::Failed);  // the mutator sees the other connection's write
    j.status = JobStatus::Completed;
    return true;
  });
  EXPECT_EQ(change.job.sequence, 5);
  EXPECT_EQ(rawQueryText("SELECT status || '/' || sequence FROM jobs"), "Completed/5");
}

TEST_F(SqliteStoreTest, ListJobsFiltersAndOrdersNewestFirst) {
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

TEST_F(SqliteStoreTest, VideoSaveGetWithStagesAndReplace) {
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
  EXPECT_EQ(rawQueryText("SELECT count(*) FROM videos"), "1");

  // Saving with no stages clears them.
  video.stages.clear();
  store->saveVideo(video);
  got = store->getVideo("vid");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->stages.empty());
}

TEST_F(SqliteStoreTest, DataSurvivesReopen) {
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

TEST_F(SqliteStoreTest, UsesWalJournalAndRecordsSchemaVersion) {
  {
    auto store = open();
    Job job = makeJob("job-1");
    store->createJob(job);
    EXPECT_TRUE(fs::exists(path_ + "-wal"));
  }
  // journal_mode=WAL is persistent, so a fresh connection sees it too.
  EXPECT_EQ(rawQueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(rawQueryText("PRAGMA user_version"), "2");
}

TEST_F(SqliteStoreTest, CreatesMissingParentDirectories) {
  path_ = (dir_ / "nested" / "deeper" / "herald.db").string();
  auto store = open();
  Job job = makeJob("job-1");
  store->createJob(job);
  EXPECT_TRUE(fs::exists(path_));
}

TEST_F(SqliteStoreTest, InMemoryDatabaseWorksAndLeavesNoFileBehind) {
  // ":memory:" is the documented non-durable setting (benchmark, throwaway development).
  const auto cwd = fs::current_path();
  fs::current_path(dir_);  // a file named ":memory:" would land here
  {
    SqliteStore store(":memory:");
    Job job = makeJob("job-1");
    store.createJob(job);
    job.status = JobStatus::Running;
    job.progress = 40;
    store.beginBatch();
    writeJob(store, job);
    store.commitBatch();
    EXPECT_EQ(store.getJob("job-1")->progress, 40);
    EXPECT_EQ(store.progressHistory("job-1", 0, 10).size(), 2u);
  }
  EXPECT_TRUE(fs::is_empty(dir_)) << "nothing may be written to disk";
  SqliteStore fresh(":memory:");
  EXPECT_FALSE(fresh.getJob("job-1")) << "each in-memory store starts empty";
  fs::current_path(cwd);
}

TEST_F(SqliteStoreTest, CheckpointPagesSetHowLongTheLogGrowsBeforeItIsCopiedBack) {
  // ~2 pages a report: 1,500 reports make ~3,000 pages of log. With checkpoints every
  // 1,000 pages the log restarts and its file stays near 1,000 pages; with 100,000 it
  // keeps everything.
  auto walBytesAfterReports = [&](int checkpointPages) {
    std::error_code ec;
    fs::remove(path_, ec);
    fs::remove(path_ + "-wal", ec);
    fs::remove(path_ + "-shm", ec);
    SqliteStore store(path_, checkpointPages);
    Job job = makeJob("job-1");
    store.createJob(job);
    job.status = JobStatus::Running;
    for (int i = 0; i < 1500; ++i) {
      job.progress = i % 100;
      job.statusMessage = std::string(1500, static_cast<char>('a' + i % 26));
      writeJob(store, job);
    }
    auto bytes = fs::file_size(path_ + "-wal");
    EXPECT_EQ(store.progressHistory("job-1", 0, 5000).size(), 1501u);
    return bytes;
  };
  EXPECT_LT(walBytesAfterReports(1000), 1200u * 4200u);
  EXPECT_GT(walBytesAfterReports(100'000), 2000u * 4096u);
}

TEST_F(SqliteStoreTest, RefusesNewerSchemaVersion) {
  { auto store = open(); }
  rawExec("PRAGMA user_version = 99");
  EXPECT_THROW(open(), StoreError);
}

TEST_F(SqliteStoreTest, UnreadableMetadataBecomesEmptyObject) {
  {
    auto store = open();
    Job a = makeJob("array");
    a.metadata["k"] = "v";
    store->createJob(a);
    Job b = makeJob("garbage");
    store->createJob(b);
  }
  rawExec("UPDATE jobs SET metadata = '[1,2]' WHERE id = 'array'");
  rawExec("UPDATE jobs SET metadata = '{not json' WHERE id = 'garbage'");
  auto store = open();
  auto a = store->getJob("array");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->metadata.empty());
  auto b = store->getJob("garbage");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->metadata.empty());
}

TEST_F(SqliteStoreTest, ListJobsFiltersByTypeAndPagesWithOffset) {
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

TEST_F(SqliteStoreTest, CountJobsGroupsByStatusTypeAndPriority) {
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

}  // namespace
}  // namespace herald::storage
