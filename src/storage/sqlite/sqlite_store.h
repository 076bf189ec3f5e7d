#pragma once
// SQLite implementation of Store: one file, WAL journal, schema created on open.
#include <cstdint>
#include <string>
#include <unordered_map>

#include "storage/store.h"

struct sqlite3;

namespace herald::storage {

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database file. Throws StoreError on failure.
  // `checkpointPages`: the WAL is copied back into the file every this many pages.
  explicit SqliteStore(const std::string& path, int checkpointPages = 1000);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  void createJob(model::Job& job) override;
  model::ProgressEntry recordUpdate(model::Job& job) override;
  void saveJobQuietly(const model::Job& job) override;
  std::optional<model::Job> getJob(const std::string& id) override;
  std::vector<model::Job> listJobs(const JobFilter& filter) override;
  std::vector<model::ProgressEntry> progressHistory(const std::string& jobId,
                                                    std::int64_t afterSequence, int limit) override;
  std::optional<model::Job> nextRunnableJob(std::int64_t now) override;
  void saveTranscript(const std::string& videoId,
                      const std::vector<model::TranscriptSegment>& segments) override;
  std::vector<model::TranscriptSegment> transcript(const std::string& videoId) override;
  void saveEmbeddings(const std::string& videoId, const std::string& model,
                      const std::vector<std::vector<float>>& vectors) override;
  std::size_t embeddingCount(const std::string& videoId) override;
  void beginBatch() override;
  void commitBatch() override;
  void rollbackBatch() override;
  void saveVideo(const model::Video& video) override;
  std::optional<model::Video> getVideo(const std::string& id) override;

 private:
  // Recently written or read jobs, so a progress report does not SELECT the row it
  // wrote a moment ago. Every job write here updates its entry; a rollback empties the
  // cache, and so does a commit by any other connection to the file (PRAGMA
  // data_version), so a cached job is never older than the database.
  void dropCacheIfChangedElsewhere();
  void remember(const model::Job& job);
  void rememberProgress(const model::Job& job);

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, model::Job> jobCache_;
  std::int64_t dataVersion_ = -1;
  bool inWriteTransaction_ = false;  // between beginBatch and commit/rollback
};

}  // namespace herald::storage
