#pragma once
// The durable store behind jobs, videos and progress history. SQLite (storage/sqlite/) and
// MariaDB/MySQL (storage/mariadb/) implement it; tests/unit/storage runs the same
// conformance tests against both.
//
// Contract (every implementation keeps it; the jobs layer relies on nothing else):
//
// - Atomicity. Every method that writes is one transaction: createJob writes the job and
//   its first history entry (sequence 1); updateJob and claimNextJob read the job, let the
//   caller's mutator decide, and write the job row and its next history entry, all in one
//   write transaction; updateVideo likewise for a video and its stages. A failure (an
//   exception) leaves nothing of that call written.
// - Sequences are assigned by the store, never by the caller: the entry written by
//   updateJob/claimNextJob gets the stored sequence + 1, read under the same write lock
//   that writes it. So per job, sequences are unique, gap-free and in commit order, however
//   many Store objects or processes write the database, and no update overwrites another
//   it did not see (the mutator always sees the latest committed job).
// - Ordering of two updates of one job: they are serialised by the store (SQLite: the
//   database write lock, BEGIN IMMEDIATE; MariaDB: the row lock, SELECT ... FOR UPDATE).
//   The one that commits first has the lower sequence, and the second one's mutator sees
//   the first one's result. Nothing is promised across jobs: sequences are per job, and
//   two jobs' updates may commit in any order. A caller publishing updates must order its
//   notifications by sequence (a subscriber may see a lower sequence after a higher one
//   from another node and must drop it), not by the order its calls returned in.
// - Group commit. Between beginBatch and commitBatch all writes of this Store object run
//   in one write transaction (the write lock is held from beginBatch to commit/rollback;
//   other writers wait for it, see the busy timeout in sqlite_store.cpp). Each call inside
//   stays atomic on its own: a failing call is undone alone (a savepoint) and the batch
//   goes on. Nothing in a batch is visible to other connections, nor durable, before
//   commitBatch returns; rollbackBatch undoes the whole batch.
// - Durability. A call that returned outside a batch, or a commitBatch that returned, is
//   committed: visible to every other connection and process, and it survives the process
//   crashing (kill -9). Against a power cut or OS crash: SQLite with synchronous=FULL (the
//   default, Storage:Durability=full) has fsynced the commit before it returns, so it
//   survives; with NORMAL commits are not fsynced, and a power cut may lose the most recent
//   ones (whole transactions only; the database is never corrupted and a batch is never
//   half there). MariaDB: as the server's innodb_flush_log_at_trx_commit says (1: fsynced
//   at commit; 0 or 2: up to about a second may be lost).
// - Reads (getJob, listJobs, progressHistory, getVideo, transcript) see committed data
//   plus this object's own open batch; they take no write lock. What they return may be
//   stale by the time the caller acts on it: decide changes inside a mutator instead.
//
// - Leases. A claim may give the job a lease (model::Job's lease fields, set by the
//   claim's mutator): its owner, a random token and an expiry. claimNextJob also takes a
//   Running job whose lease has expired (lease_expires_at in (0, now]): its holder is
//   presumed dead, and the mutator decides the new attempt (a new token). Expired leases
//   are claimed before Pending jobs. Fencing (refusing a report whose token is not the
//   stored one) is the updateJob mutator's business, so it is atomic with the write.
//   renewLease moves only the expiry, without a history entry.
//
// Thread safety: one Store object is NOT thread-safe; use it from one thread (or strand)
// at a time. Several Store objects on one database, in one process or in several, are
// safe: that is what the contract above is for.
// Errors: environment failures (disk full, database locked past the busy timeout,
// corrupt file) throw StoreError.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/job.h"
#include "model/video.h"

namespace herald::storage {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// commitBatch: the database undid the whole batch to break a deadlock with another
// connection (another node whose batch locked the same jobs in the other order). Nothing
// of the batch was written, so its work may run again (ProgressService does).
class StoreConflict : public StoreError {
 public:
  using StoreError::StoreError;
};

struct JobFilter {
  std::optional<model::JobStatus> status;
  std::optional<std::string> userId;
  std::optional<std::string> videoId;
  std::optional<std::string> jobType;
  int limit = 100;  // at most 1,000 rows a call
  int offset = 0;   // rows skipped (paging, newest first)
  // Keyset paging: only jobs after the job with this id in the list's order (newest
  // first: created before it, or in the same millisecond but inserted before it). Unlike
  // `offset`, the next page does not shift when jobs are created, or leave the filter,
  // between pages: a walk with it sees every job that matched throughout exactly once
  // (forEachJob). An id that names no job selects nothing.
  std::optional<std::string> afterId;
};

// How many jobs share a status, type and priority (the dashboard's queues and totals).
struct JobCount {
  model::JobStatus status = model::JobStatus::Pending;
  std::string jobType;
  int priority = 0;
  std::int64_t count = 0;
};

// The outcome of a read-modify-write of one job.
struct JobChange {
  enum class Outcome { Updated, Unchanged, NotFound };
  Outcome outcome = Outcome::NotFound;
  model::Job job;              // as written (Updated) or as stored (Unchanged)
  model::ProgressEntry entry;  // the history entry written (Updated only)
};

// Decides a change from the job as stored right now; returns false to write nothing.
// It runs inside the store's write transaction (holding the write lock): keep it short,
// do no I/O in it and do not call the store from it. It must not change the job's id;
// the store sets `sequence` itself.
using JobMutator = std::function<bool(model::Job& job)>;

struct ClaimFilter {
  std::string runner = std::string(model::kRunnerHerald);  // whose queue
  bool anyRunner = false;             // every queue (external workers claim jobs of any runner)
  std::vector<std::string> jobTypes;  // empty: any type
};

// Pending jobs of one type and priority (the queue-depth gauge).
struct QueueDepth {
  std::string jobType;
  int priority = 0;
  std::int64_t count = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Inserts a new job and records its first progress entry (sequence 1).
  // `job.sequence` is set to 1 on return. Throws StoreError if the id exists.
  virtual void createJob(model::Job& job) = 0;

  // Read-modify-write inside one store transaction: reads the job, calls `mutate` on it,
  // and if it returns true writes the job and appends its history entry with sequence =
  // stored sequence + 1. Concurrent updates of one job from other connections/processes
  // are serialised by the store (SQLite: BEGIN IMMEDIATE; MariaDB: SELECT ... FOR
  // UPDATE), so sequences are unique and gap-free and no report is lost.
  virtual JobChange updateJob(const std::string& jobId, const JobMutator& mutate) = 0;

  // Atomically takes the next runnable job (a Running job whose lease expired, else status
  // Pending with availableAt <= now; matching `filter`; highest priority, then oldest): in the same
  // transaction `mutate` is applied (the caller sets Running, counts the attempt, ...) and the job
  // and its history entry are written. A job is claimed by at most one caller, whatever the number
  // of processes (SQLite: the conditional UPDATE ... WHERE status='Pending' ... RETURNING inside
  // the write transaction; MariaDB: SELECT ... FOR UPDATE SKIP LOCKED). nullopt when nothing is
  // runnable. If `mutate` returns false nothing is written and the result is Unchanged with the job
  // as stored (still Pending: not claimed).
  virtual std::optional<JobChange> claimNextJob(std::int64_t now, const ClaimFilter& filter,
                                                const JobMutator& mutate) = 0;

  // Extends the lease of a Running job held with `token` to `expiresAt` (no history entry,
  // no sequence). False when the job is not Running under that token any more (ended,
  // cancelled, or taken over after its lease expired): its holder should stop.
  virtual bool renewLease(const std::string& jobId, const std::string& token,
                          std::int64_t expiresAt) = 0;

  virtual std::optional<model::Job> getJob(const std::string& id) = 0;
  virtual std::vector<model::Job> listJobs(const JobFilter& filter) = 0;  // newest first
  // Pending jobs counted by type and priority (one indexed aggregate; scrape time).
  virtual std::vector<QueueDepth> queueDepth() = 0;
  // Answers a trivial query (readiness): throws StoreError when the store cannot.
  virtual void ping() = 0;
  // Every job counted by (status, jobType, priority); only non-zero groups, in no order.
  virtual std::vector<JobCount> countJobs() = 0;

  // History entries with sequence > afterSequence, oldest first, at most `limit`.
  virtual std::vector<model::ProgressEntry> progressHistory(const std::string& jobId,
                                                            std::int64_t afterSequence,
                                                            int limit) = 0;

  // Replaces a video's transcript / embeddings.
  virtual void saveTranscript(const std::string& videoId,
                              const std::vector<model::TranscriptSegment>& segments) = 0;
  virtual std::vector<model::TranscriptSegment> transcript(const std::string& videoId) = 0;
  virtual void saveEmbeddings(const std::string& videoId, const std::string& model,
                              const std::vector<std::vector<float>>& vectors) = 0;

  // Group commit (see the contract above). Batches do not nest. commitBatch throws
  // StoreConflict when the batch was undone to break a deadlock (nothing written).
  virtual void beginBatch() = 0;
  virtual void commitBatch() = 0;
  virtual void rollbackBatch() = 0;

  // Inserts or replaces the video with its stages (last writer wins; use updateVideo when
  // the new state depends on the stored one).
  virtual void saveVideo(const model::Video& video) = 0;
  virtual std::optional<model::Video> getVideo(const std::string& id) = 0;

  // Read-modify-write of a video: `mutate` gets the stored video (nullopt if none; it may
  // emplace one to create it) and returns false to write nothing. Returns the video as
  // stored afterwards (nullopt if none). The video's id is `videoId` (an emplaced video's
  // empty id is filled in); resetting a stored video (deleting it) throws StoreError.
  virtual std::optional<model::Video> updateVideo(
      const std::string& videoId,
      const std::function<bool(std::optional<model::Video>&)>& mutate) = 0;
};

using StorePtr = std::unique_ptr<Store>;

// Calls `visit` with every job `filter` matches, newest first, reading them a page of
// `filter.limit` (at most 1,000) at a time by keyset (afterId), so a list of any length
// is walked whole while one page at a time is held. `visit` may change the jobs it is
// given (one that leaves the filter does not shift the pages). The filter's own afterId
// and offset are not used.
inline void forEachJob(Store& store, JobFilter filter,
                       const std::function<void(const model::Job&)>& visit) {
  filter.offset = 0;
  filter.afterId.reset();
  filter.limit = std::clamp(filter.limit, 1, 1000);
  for (;;) {
    const auto page = store.listJobs(filter);
    for (const auto& job : page) visit(job);
    if (page.size() < static_cast<std::size_t>(filter.limit)) return;
    filter.afterId = page.back().id;
  }
}

}  // namespace herald::storage
