#pragma once
// SQLite implementation of Store: one file, WAL journal, schema created on open.
//
// Several SqliteStore objects (threads or processes) may share one file: every write runs
// in a BEGIN IMMEDIATE transaction (the database's single write lock), and a writer that
// finds the lock taken waits up to kBusyTimeoutMs for it (sqlite_store.cpp).
//
// Thread safety: one object is used by one thread at a time (its connection is opened
// NOMUTEX); give each thread its own object.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "model/metadata_history.h"
#include "storage/store.h"

struct sqlite3;

namespace herald::storage {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database file. Throws StoreError on failure.
  // `checkpointPages`: the WAL is copied back into the file every this many pages.
  // `fullSync`: synchronous=FULL (every commit fsynced: survives a power cut) instead of
  // NORMAL (store.h, "Durability").
  explicit SqliteStore(const std::string& path, int checkpointPages = 1000, bool fullSync = true);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void createJob(model::Job& job) override;
  JobChange updateJob(const std::string& jobId, const JobMutator& mutate) override;
  bool renewLease(const std::string& jobId, const std::string& token,
                  std::int64_t expiresAt) override;
  std::optional<JobChange> claimNextJob(std::int64_t now, const ClaimFilter& filter,
                                        const JobMutator& mutate) override;
  std::optional<model::Job> getJob(const std::string& id) override;
  std::vector<model::Job> listJobs(const JobFilter& filter) override;
  std::vector<QueueDepth> queueDepth() override;
  void ping() override;
  std::vector<JobCount> countJobs() override;
  std::vector<model::ProgressEntry> progressHistory(const std::string& jobId,
                                                    std::int64_t afterSequence, int limit) override;
  void saveTranscript(const std::string& videoId,
                      const std::vector<model::TranscriptSegment>& segments) override;
  std::vector<model::TranscriptSegment> transcript(const std::string& videoId) override;
  void saveEmbeddings(const std::string& videoId, const std::string& model,
                      const std::vector<std::vector<float>>& vectors) override;
  void beginBatch() override;
  void commitBatch() override;
  void rollbackBatch() override;
  void saveVideo(const model::Video& video) override;
  std::optional<model::Video> getVideo(const std::string& id) override;
  std::optional<model::Video> updateVideo(
      const std::string& videoId,
      const std::function<bool(std::optional<model::Video>&)>& mutate) override;

  // What the job cache holds now: entries, and bytes as it counts them (tests).
  std::size_t cachedJobs() const { return jobCache_.size(); }
  std::size_t cachedJobBytes() const { return jobCacheBytes_; }
  // PRAGMA synchronous of the connection: 2 FULL, 1 NORMAL (tests).
  int synchronousMode();

 private:
  // Recently written or read jobs, so a progress report does not SELECT the row it
  // wrote a moment ago. Every job write here updates its entry after it commits; a
  // rollback empties the cache, and so does a commit by any other connection to the file
  // (PRAGMA data_version), so a cached job is never older than the database. A write
  // transaction checks data_version after it holds the write lock (nobody else can commit
  // until it ends), so a mutator always starts from the committed job.
  void dropCacheIfChangedElsewhere();
  // Throws StoreError when the opened database cannot take writes or is corrupt.
  void checkUsable(const std::string& path);
  // The job, from the cache or the database (then cached); a copy.
  std::optional<model::Job> loadJob(const std::string& id, std::string_view op);
  // `metadataBytes`: the size of the job's metadata as JSON text (what the cache charges).
  // `patchBytes`: the job's patch bytes since its last full metadata row, when known.
  void remember(const model::Job& job, std::size_t metadataBytes,
                std::optional<std::size_t> patchBytes = std::nullopt);
  void forget(const std::string& id);
  void forgetAll();
  // The history row of a change from `stored` to `job` (model/metadata_history.h), and
  // the job's patch bytes since its last full row once that row is written. The count
  // comes from the cache when it holds it (a SUM over the job's history rows otherwise:
  // ~8k instructions, 7 % of a report, when every report changes the metadata).
  std::pair<model::MetadataRecord, std::optional<std::size_t>> historyRecord(
      const model::Job& stored, const model::Job& job, const std::string& fullText,
      std::string_view op);

  struct CachedJob {
    model::Job job;
    std::size_t bytes = 0;                  // what it is charged against kJobCacheBytes
    std::optional<std::size_t> patchBytes;  // since the last full metadata row; unknown
  };

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, CachedJob> jobCache_;
  std::size_t jobCacheBytes_ = 0;
  std::int64_t dataVersion_ = -1;
  bool inWriteTransaction_ = false;  // between beginBatch and commit/rollback
};

}  // namespace herald::storage
