// SqliteStore against real files: each test gets its own temporary directory, so WAL,
// reopening and directory creation are exercised as in production.
#include "storage/sqlite/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
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

TEST_F(SqliteStoreTest, UsesWalJournalAndRecordsSchemaVersion) {
  {
    auto store = open();
    Job job = makeJob("job-1");
    store->createJob(job);
    EXPECT_TRUE(fs::exists(path_ + "-wal"));
  }
  // journal_mode=WAL is persistent, so a fresh connection sees it too.
  EXPECT_EQ(rawQueryText("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(rawQueryText("PRAGMA user_version"), "4");
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
    // One read returns at most a page of 1,000.
    EXPECT_EQ(store.progressHistory("job-1", 0, 5000).size(), 1000u);
    EXPECT_EQ(store.progressHistory("job-1", 1000, 5000).size(), 501u);
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

}  // namespace
}  // namespace herald::storage

namespace herald::storage {
namespace {

TEST_F(SqliteStoreTest, JobCacheIsBoundedInBytesNotJustEntries) {
  // The attack run's case: 4,000 jobs of 400 KB metadata each held 5 GB in a cache bounded
  // by entries only. Here 300 jobs of 200 KB (the store itself has no metadata limit;
  // Jobs:MaxMetadataBytes is the jobs layer's) must stay within the cache's 32 MB.
  auto store = open();
  const std::string big(200 * 1024, 'm');
  std::size_t most = 0;
  for (int i = 0; i < 300; ++i) {
    Job job = makeJob("job-" + std::to_string(i));
    job.metadata["blob"] = big;
    store->createJob(job);
    most = std::max(most, store->cachedJobBytes());
  }
  EXPECT_LE(most, 32u << 20);
  EXPECT_GT(store->cachedJobs(), 0u);  // still a cache
  // A cached job reads back whole.
  auto got = store->getJob("job-299");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->metadata.at("blob").as_string(), big);
}

}  // namespace
}  // namespace herald::storage

namespace herald::storage {
namespace {

TEST_F(SqliteStoreTest, ACorruptFileIsRefusedAtOpenNotAtTheFirstWrite) {
  {
    auto store = open();
    for (int i = 0; i < 50; ++i) {
      Job job = makeJob("job-" + std::to_string(i));
      job.metadata["pad"] = std::string(500, 'p');
      store->createJob(job);
    }
  }  // the last connection closing checkpoints the WAL into the file
  {
    // Garbage over the pages after the first (the header and schema stay readable, so
    // opening alone would not notice).
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 2);
    const std::string garbage(4096 * 3, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  try {
    open();
    FAIL() << "a corrupt database opened";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace herald::storage

namespace herald::storage {
namespace {

TEST_F(SqliteStoreTest, DurabilityFullFsyncsEveryCommitAndNormalLeavesItToCheckpoints) {
  // PRAGMA synchronous is per connection: 2 is FULL, 1 NORMAL.
  for (const bool full : {true, false}) {
    SqliteStore store(path_, 1000, full);
    Job job = makeJob(full ? "full" : "normal");
    store.createJob(job);
    EXPECT_EQ(store.synchronousMode(), full ? 2 : 1);
  }
}

}  // namespace
}  // namespace herald::storage
