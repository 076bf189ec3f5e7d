#pragma once
// MariaDB/MySQL implementation of Store (InnoDB), through MariaDB Connector/C.
//
// One connection per object, used by one thread at a time; several objects, in one
// process or on several nodes, may share the database (store.h's contract). How the
// contract maps onto InnoDB:
// - every write is one transaction (a SAVEPOINT inside a batch);
// - updateJob reads the job with SELECT ... FOR UPDATE: the row lock serialises writers
//   of one job, so sequence + 1 is unique and gap-free; claimNextJob uses FOR UPDATE SKIP
//   LOCKED, so two nodes claiming at once take different jobs instead of waiting;
// - a deadlock (InnoDB rolls the whole transaction back) is retried up to 3 times for a
//   call outside a batch; inside a batch it loses the batch: that call and every later
//   one until rollbackBatch throws StoreError, as does commitBatch;
// - a lost connection fails the call in progress (a COMMIT whose answer was lost may or
//   may not have happened, so nothing is retried blindly); the next call reconnects;
// - durability is the server's: with InnoDB's default innodb_flush_log_at_trx_commit=1 a
//   returned commit survives a crash of either process.
#include <cstdint>
#include <memory>
#include <string>

#include "storage/store.h"
#include "storage/store_location.h"

namespace herald::storage::mariadb {
class Connection;
}

namespace herald::storage {

class MariaDbStore final : public Store {
 public:
  // Connects and migrates the schema. Throws StoreError (naming host and port, never the
  // password) when the server cannot be reached or refuses.
  explicit MariaDbStore(StoreLocation location);
  ~MariaDbStore() override;
  MariaDbStore(const MariaDbStore&) = delete;
  MariaDbStore& operator=(const MariaDbStore&) = delete;

  void createJob(model::Job& job) override;
  JobChange updateJob(const std::string& jobId, const JobMutator& mutate) override;
  bool renewLease(const std::string& jobId, const std::string& token,
                  std::int64_t expiresAt) override;
  std::optional<JobChange> claimNextJob(std::int64_t now, const ClaimFilter& filter,
                                        const JobMutator& mutate) override;
  std::optional<model::Job> getJob(const std::string& id) override;
  std::vector<model::Job> listJobs(const JobFilter& filter) override;
  std::vector<QueueDepth> queueDepth() override;
  std::vector<JobCount> countJobs() override;
  void ping() override;
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

 private:
  // Runs `f(connection)` with the connection (re)opened, applying the retry and
  // batch-loss rules above.
  template <class F>
  auto run(std::string_view op, F&& f) -> decltype(f(std::declval<mariadb::Connection&>()));

  StoreLocation location_;
  std::unique_ptr<mariadb::Connection> conn_;
  bool inBatch_ = false;
  bool batchLost_ = false;      // the open batch was rolled back by the server
  bool batchConflict_ = false;  // ... by a deadlock: nothing of it was written
};

}  // namespace herald::storage
