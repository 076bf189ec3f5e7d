// SqliteStore: the Store interface over one SQLite file, through the C API.
//
// Design notes:
// - One connection per store object, used by one thread at a time, so it is opened
//   NOMUTEX. Several objects and processes may share the file (see store.h's contract).
// - WAL journal: readers never block the writer. synchronous=FULL (the default,
//   Storage:Durability=full) fsyncs the WAL at every commit, so a commit survives a power
//   cut; NORMAL leaves the fsync to checkpoints: a power cut may lose the last commits but
//   never corrupts the file. Group commit makes it one fsync per batch either way.
// - Every write runs in one BEGIN IMMEDIATE transaction (a SAVEPOINT inside an open
//   batch), so a failure leaves nothing half-written. IMMEDIATE takes the write lock up
//   front, so contention is waited out (busy timeout) at BEGIN instead of surfacing as an
//   unretryable SQLITE_BUSY in the middle of the transaction. Read-modify-writes
//   (updateJob, claimNextJob, updateVideo) read inside that transaction, so what the
//   mutator sees is what is stored until the commit.
// - Statements are cached per connection (statement.cpp); the schema is migrated on open
//   (schema.cpp); row mapping lives in rows.cpp.
#include "storage/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/json/array.hpp>
#include "core/json_text.h"

#include "storage/sqlite/rows.h"
#include "storage/sqlite/schema.h"
#include "storage/sqlite/statement.h"

namespace herald::storage {

using namespace sqlite;  // NOLINT: this file is the SQLite implementation

namespace {

// How long a writer waits for another connection's write lock before StoreError. Our own
// write transactions last well under a millisecond (a batch, a few milliseconds), so 5 s
// is only ever reached when something holds the lock for good (e.g. an operator's sqlite3
// shell left inside BEGIN); then the caller gets an error instead of a hung store thread.
constexpr int kBusyTimeoutMs = 5000;

// Bounded in entries and in bytes: a server with more live jobs than this just reads some
// of them back. Bytes too, as a job's metadata may be large (Jobs:MaxMetadataBytes):
// 4,096 jobs of 400 KB each once held 5 GB.
constexpr std::size_t kJobCacheLimit = 4096;
constexpr std::size_t kJobCacheBytes = 32ULL << 20;

// The most history rows one progressHistory call returns (REST pages by afterSequence).
constexpr int kMaxHistoryPage = 1000;

// Whether a mutator left every column a progress update does not write as stored.
bool sameIdentity(const model::Job& a, const model::Job& b) {
  return a.videoId == b.videoId && a.userId == b.userId && a.jobType == b.jobType &&
         a.priority == b.priority && a.maxAttempts == b.maxAttempts && a.createdAt == b.createdAt &&
         a.runner == b.runner;
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path, int checkpointPages, bool fullSync) {
  constexpr std::string_view op = "open";
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) fail(op, "cannot create directory " + parent.string() + ": " + ec.message());
  }

  // SQLite's memory statistics take a global mutex around every allocation it makes
  // (~3k instructions a progress report); nothing here reads them. Only possible before
  // SQLite initialises; if something else started it first, the statistics just stay on.
  static std::once_flag noMemoryStatistics;
  std::call_once(noMemoryStatistics, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });

  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    // sqlite3_open_v2 may hand back a handle even on failure; it must still be closed.
    std::string what = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    fail(op, path + ": " + what);
  }

  try {
    sqlite3_extended_result_codes(db_, 1);
    // busy_timeout first so that switching to WAL waits out another process's lock.
    sqlite3_busy_timeout(db_, kBusyTimeoutMs);
    exec(db_,
         fullSync ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                  : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
         op);
    migrate(db_);
    exec(db_, ("PRAGMA wal_autocheckpoint=" + std::to_string(checkpointPages)).c_str(), op);
    checkUsable(path);
  } catch (...) {
    // The destructor does not run for a throwing constructor.
    forgetCache(db_);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

void SqliteStore::checkUsable(const std::string& path) {
  constexpr std::string_view op = "open";
  // Found here, not at the first report: a store that cannot take writes must not start
  // (and answer ready) only to fail every report. SQLite opens a file it may not write
  // read-only without a word.
  if (sqlite3_db_readonly(db_, "main") == 1) {
    fail(op, path +
                 " is read-only (file or folder permissions, or a read-only file system); "
                 "Herald must be able to write it");
  }
  // Every page's structure (not the indexes' contents: PRAGMA integrity_check would read
  // far more). Reads the whole file: seconds for a database of gigabytes.
  Statement st(db_, "PRAGMA quick_check(1)", op);
  const std::string verdict = st.step() ? st.text(0) : std::string("no answer");
  if (verdict != "ok") {
    fail(op, path + " is corrupt (PRAGMA quick_check: " + verdict +
                 "); restore it from a backup, or move it aside to start with an empty one");
  }
}

int SqliteStore::synchronousMode() {
  Statement st(db_, "PRAGMA synchronous", "synchronousMode");
  return st.step() ? st.integer(0) : -1;
}

SqliteStore::~SqliteStore() {
  forgetCache(db_);
  // All statements are finalized by their RAII owners, so this closes immediately (and
  // checkpoints the WAL when we are the last connection).
  sqlite3_close_v2(db_);
}

void SqliteStore::createJob(model::Job& job) {
  constexpr std::string_view op = "createJob";
  const auto previous = job.sequence;
  job.sequence = 1;
  std::string metadata;
  try {
    Transaction tx(db_, op);
    insertJob(db_, job, op);
    metadata = metadataText(job.metadata);
    insertEntry(db_, model::snapshotOf(job), {model::MetadataKind::Full, metadata}, op);
    tx.commit();
  } catch (...) {
    job.sequence = previous;
    forget(job.id);
    throw;
  }
  remember(job, metadata.size(), 0);  // its first history row is a full copy
}

std::pair<model::MetadataRecord, std::optional<std::size_t>> SqliteStore::historyRecord(
    const model::Job& stored, const model::Job& job, const std::string& fullText,
    std::string_view op) {
  std::optional<std::size_t> known;
  if (auto it = jobCache_.find(job.id); it != jobCache_.end()) known = it->second.patchBytes;
  if (stored.metadata == job.metadata) return {model::MetadataRecord{}, known};
  const std::size_t before = known ? *known : patchBytesSinceFull(db_, job.id, op);
  auto record = model::recordMetadata(stored.metadata, job.metadata, fullText, before);
  const std::size_t after =
      record.kind == model::MetadataKind::Patch ? before + record.text.size() : 0;
  return {std::move(record), after};
}

void SqliteStore::remember(const model::Job& job, std::size_t metadataBytes,
                           std::optional<std::size_t> patchBytes) {
  // What the entry holds, roughly: the strings and the parsed metadata (a parsed JSON
  // object takes a few times its text; 4x is generous for small values).
  const std::size_t bytes = sizeof(CachedJob) + job.id.size() * 2 + job.videoId.size() +
                            job.userId.size() + job.jobType.size() + job.currentStage.size() +
                            job.statusMessage.size() + job.errorMessage.value_or("").size() +
                            job.leaseOwner.size() + job.leaseToken.size() + metadataBytes * 4;
  forget(job.id);
  if (jobCache_.size() >= kJobCacheLimit || jobCacheBytes_ + bytes > kJobCacheBytes) {
    jobCache_.clear();
    jobCacheBytes_ = 0;
  }
  if (bytes > kJobCacheBytes) return;
  jobCache_.emplace(job.id, CachedJob{job, bytes, patchBytes});
  jobCacheBytes_ += bytes;
}

void SqliteStore::forget(const std::string& id) {
  auto it = jobCache_.find(id);
  if (it == jobCache_.end()) return;
  jobCacheBytes_ -= it->second.bytes;
  jobCache_.erase(it);
}

void SqliteStore::forgetAll() {
  jobCache_.clear();
  jobCacheBytes_ = 0;
}

void SqliteStore::dropCacheIfChangedElsewhere() {
  // Called at the start of every read, and by every write transaction once it holds the
  // write lock (no other connection can commit after that until it ends). Inside a batch
  // the lock is held since beginBatch, which checked then.
  if (inWriteTransaction_) return;
  Statement st(db_, "PRAGMA data_version", "dataVersion");
  const std::int64_t version = st.step() ? st.int64(0) : -1;
  if (version != dataVersion_ || version < 0) forgetAll();
  dataVersion_ = version;
}

std::optional<model::Job> SqliteStore::getJob(const std::string& id) {
  constexpr std::string_view op = "getJob";
  dropCacheIfChangedElsewhere();
  return loadJob(id, op);
}

std::vector<model::Job> SqliteStore::listJobs(const JobFilter& filter) {
  constexpr std::string_view op = "listJobs";
  // Only the filters actually given go into the SQL, so the planner can use the
  // status/user/video indexes (an "?1 IS NULL OR status = ?1" form would defeat them).
  std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs";
  const char* glue = " WHERE ";
  if (filter.status) {
    sql.append(glue).append("status = ?");
    glue = " AND ";
  }
  if (filter.userId) {
    sql.append(glue).append("user_id = ?");
    glue = " AND ";
  }
  if (filter.videoId) {
    sql.append(glue).append("video_id = ?");
    glue = " AND ";
  }
  if (filter.jobType) {
    sql.append(glue).append("job_type = ?");
    glue = " AND ";
  }
  // The cursor's own position in the order below (no row when the id is unknown: the
  // comparison is NULL and nothing matches).
  if (filter.afterId) {
    sql.append(glue).append(
        "(created_at, rowid) < (SELECT created_at, rowid FROM jobs WHERE id = ?)");
  }
  // rowid breaks ties between jobs created in the same millisecond: later insert first.
  sql.append(" ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?");

  Statement st(db_, sql, op);
  int i = 1;
  if (filter.status) st.bind(i++, model::toString(*filter.status));
  if (filter.userId) st.bind(i++, *filter.userId);
  if (filter.videoId) st.bind(i++, *filter.videoId);
  if (filter.jobType) st.bind(i++, *filter.jobType);
  if (filter.afterId) st.bind(i++, *filter.afterId);
  st.bind(i++, std::clamp(filter.limit, 1, 1000));
  st.bind(i, std::max(filter.offset, 0));

  std::vector<model::Job> jobs;
  while (st.step()) jobs.push_back(readJob(st, op));
  return jobs;
}

std::vector<QueueDepth> SqliteStore::queueDepth() {
  constexpr std::string_view op = "queueDepth";
  Statement st(db_,
               "SELECT job_type, priority, COUNT(*) FROM jobs WHERE status = 'Pending' "
               "GROUP BY job_type, priority ORDER BY job_type, priority",
               op);
  std::vector<QueueDepth> out;
  while (st.step()) out.push_back(QueueDepth{st.text(0), st.integer(1), st.int64(2)});
  return out;
}

void SqliteStore::ping() {
  // Reads the schema (a page of the file), then takes and drops the write lock: a store
  // that can be read but not written (another process holding the lock, a read-only
  // file) cannot accept reports, so it is not ready. Inside this process's own open
  // batch the lock is held already.
  if (sqlite3_db_readonly(db_, "main") == 1) fail("ping", "the database is read-only");
  Statement st(db_, "SELECT COUNT(*) FROM sqlite_master", "ping");
  st.step();
  if (!inWriteTransaction_) {
    Statement(db_, "BEGIN IMMEDIATE", "ping").run();
    Statement(db_, "ROLLBACK", "ping").run();
  }
}

std::vector<JobCount> SqliteStore::countJobs() {
  constexpr std::string_view op = "countJobs";
  // One pass over the jobs table; the dashboard asks about once a second while it is open.
  Statement st(db_,
               "SELECT status, job_type, priority, COUNT(*) FROM jobs "
               "GROUP BY status, job_type, priority",
               op);
  std::vector<JobCount> counts;
  while (st.step()) {
    auto status = model::parseJobStatus(st.text(0));
    if (!status) continue;  // a status this build does not know is nobody's queue
    counts.push_back(JobCount{*status, st.text(1), st.integer(2), st.int64(3)});
  }
  return counts;
}

std::vector<model::ProgressEntry> SqliteStore::progressHistory(const std::string& jobId,
                                                               std::int64_t afterSequence,
                                                               int limit) {
  constexpr std::string_view op = "progressHistory";
  // One read transaction: the metadata as of `afterSequence` and the rows after it come
  // from the same snapshot.
  Transaction tx(db_, op, "BEGIN");
  auto metadata = metadataAt(db_, jobId, afterSequence, op);
  Statement st(db_,
               "SELECT sequence, status, progress, current_stage, status_message, error_message, "
               "metadata, updated_at, metadata_kind FROM job_progress WHERE job_id = ?1 AND "
               "sequence > ?2 ORDER BY sequence ASC LIMIT ?3",
               op);
  st.bind(1, jobId);
  st.bind(2, afterSequence);
  st.bind(3, std::clamp(limit, 1, kMaxHistoryPage));

  std::vector<model::ProgressEntry> entries;
  while (st.step()) {
    model::ProgressEntry e;
    e.jobId = jobId;
    e.sequence = st.int64(0);
    e.status = parseStatus(st.text(1), op);
    e.progress = st.real(2);
    e.currentStage = st.text(3);
    e.statusMessage = st.text(4);
    e.errorMessage = st.optText(5);
    model::applyMetadata(metadata, model::metadataKindFrom(st.int64(8)), st.text(6));
    e.metadata = metadata;
    e.updatedAt = st.int64(7);
    entries.push_back(std::move(e));
  }
  st.reset();
  tx.commit();
  return entries;
}

// ---------------------------------------------------------------------------------------
// Read-modify-writes: the multi-writer API
// ---------------------------------------------------------------------------------------

std::optional<model::Job> SqliteStore::loadJob(const std::string& id, std::string_view op) {
  if (auto it = jobCache_.find(id); it != jobCache_.end()) return it->second.job;
  Statement st(db_, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?1", op);
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  auto job = readJob(st, op);
  remember(job, st.bytes(9));
  return job;
}

JobChange SqliteStore::updateJob(const std::string& jobId, const JobMutator& mutate) {
  constexpr std::string_view op = "updateJob";
  JobChange change;
  std::size_t metadataBytes = 0;
  std::optional<std::size_t> afterPatchBytes;
  try {
    Transaction tx(db_, op);
    // We hold the write lock now: after this check the cache is the database until commit.
    dropCacheIfChangedElsewhere();
    auto stored = loadJob(jobId, op);
    if (!stored) return change;  // NotFound
    model::Job job = *stored;
    if (!mutate(job)) {
      change.outcome = JobChange::Outcome::Unchanged;
      change.job = std::move(*stored);
      return change;  // nothing written: the transaction just ends
    }
    if (job.id != stored->id) fail(op, "the mutator changed the id of job '" + jobId + "'");
    job.sequence = stored->sequence + 1;
    // Serialised once for the row and its history entry.
    const auto metadata = metadataText(job.metadata);
    if (sameIdentity(job, *stored)) {
      const bool statusChanged =
          job.status != stored->status || job.availableAt != stored->availableAt;
      updateJobProgress(db_, job, metadata, statusChanged, op);
    } else {
      updateJobRow(db_, job, op);
    }
    change.entry = model::snapshotOf(job);
    auto [record, patchBytes] = historyRecord(*stored, job, metadata, op);
    insertEntry(db_, change.entry, record, op);
    tx.commit();
    change.outcome = JobChange::Outcome::Updated;
    change.job = std::move(job);
    metadataBytes = metadata.size();
    afterPatchBytes = patchBytes;
  } catch (...) {
    forget(jobId);
    throw;
  }
  remember(change.job, metadataBytes, afterPatchBytes);
  return change;
}

std::optional<JobChange> SqliteStore::claimNextJob(std::int64_t now, const ClaimFilter& filter,
                                                   const JobMutator& mutate) {
  constexpr std::string_view op = "claimNextJob";
  JobChange change;
  std::string claimedId;
  std::size_t metadataBytes = 0;
  std::optional<std::size_t> afterPatchBytes;
  try {
    Transaction tx(db_, op);
    dropCacheIfChangedElsewhere();
    std::optional<model::Job> stored;
    boost::json::array types;
    for (const auto& t : filter.jobTypes) types.emplace_back(t);
    // Two queries, each served by its own index: a job whose holder's lease ran out first
    // (it waited longest), then the queue.
    for (const char* runnable :
         {"status = 'Running' AND lease_expires_at > 0 AND lease_expires_at <= ?1",
          "status = 'Pending' AND available_at <= ?1"}) {
      // The job types go in as one JSON array, so the SQL text (and its cached statement)
      // is the same whatever their number.
      Statement st(db_,
                   std::string("SELECT ") + kJobColumns + " FROM jobs WHERE " + runnable +
                       " AND (?2 IS NULL OR runner = ?2) AND (?3 IS NULL OR job_type IN "
                       "(SELECT value FROM json_each(?3))) "
                       "ORDER BY priority DESC, created_at, rowid LIMIT 1",
                   op);
      st.bind(1, now);
      if (!filter.anyRunner) st.bind(2, filter.runner);
      if (!filter.jobTypes.empty()) st.bind(3, herald::core::toJson(types));
      if (st.step()) {
        stored = readJob(st, op);
        break;
      }
    }
    if (!stored) return std::nullopt;
    claimedId = stored->id;
    model::Job job = *stored;
    if (!mutate(job)) {
      change.outcome = JobChange::Outcome::Unchanged;
      change.job = std::move(*stored);
      return change;
    }
    if (job.id != stored->id) fail(op, "the mutator changed the id of job '" + claimedId + "'");
    job.sequence = stored->sequence + 1;
    {
      // Conditional on the job being as we read it: under the write lock it always is,
      // and the condition makes that an assertion rather than an assumption (a second
      // claim of the same job cannot succeed even if the locking were ever weakened).
      Statement st(db_,
                   "UPDATE jobs SET video_id = ?2, user_id = ?3, job_type = ?4, status = ?5, "
                   "progress = ?6, current_stage = ?7, status_message = ?8, "
                   "error_message = ?9, metadata = ?10, priority = ?11, attempts = ?12, "
                   "max_attempts = ?13, created_at = ?14, updated_at = ?15, started_at = ?16, "
                   "completed_at = ?17, sequence = ?18, available_at = ?19, runner = ?20, "
                   "lease_owner = ?21, lease_token = ?22, lease_expires_at = ?23, lease_ms = ?24 "
                   "WHERE id = ?1 AND status = ?26 AND sequence = ?25 RETURNING sequence",
                   op);
      bindJob(st, job);
      st.bind(25, stored->sequence);
      st.bind(26, model::toString(stored->status));
      if (!st.step()) fail(op, "job '" + claimedId + "' changed while claimed");
    }
    change.entry = model::snapshotOf(job);
    const auto metadata = metadataText(job.metadata);
    auto [record, patchBytes] = historyRecord(*stored, job, metadata, op);
    insertEntry(db_, change.entry, record, op);
    tx.commit();
    change.outcome = JobChange::Outcome::Updated;
    change.job = std::move(job);
    metadataBytes = metadata.size();
    afterPatchBytes = patchBytes;
  } catch (...) {
    if (!claimedId.empty()) forget(claimedId);
    throw;
  }
  remember(change.job, metadataBytes, afterPatchBytes);
  return change;
}

bool SqliteStore::renewLease(const std::string& jobId, const std::string& token,
                             std::int64_t expiresAt) {
  constexpr std::string_view op = "renewLease";
  if (token.empty()) return false;
  forget(jobId);
  Transaction tx(db_, op);
  Statement st(db_,
               "UPDATE jobs SET lease_expires_at = ?3 WHERE id = ?1 AND lease_token = ?2 AND "
               "status = 'Running' RETURNING id",
               op);
  st.bind(1, jobId);
  st.bind(2, token);
  st.bind(3, expiresAt);
  const bool held = st.step();
  st.reset();
  tx.commit();
  return held;
}

std::optional<model::Video> SqliteStore::updateVideo(
    const std::string& videoId, const std::function<bool(std::optional<model::Video>&)>& mutate) {
  constexpr std::string_view op = "updateVideo";
  Transaction tx(db_, op);
  auto stored = readVideo(db_, videoId, op);
  auto video = stored;
  if (!mutate(video)) return stored;
  if (!video) {
    if (stored) fail(op, "deleting video '" + videoId + "' is not supported");
    return std::nullopt;
  }
  if (video->id.empty()) video->id = videoId;
  if (video->id != videoId) fail(op, "the mutator changed the id of video '" + videoId + "'");
  writeVideo(db_, *video, op);
  tx.commit();
  return video;
}

// ---------------------------------------------------------------------------------------
// Videos
// ---------------------------------------------------------------------------------------

void SqliteStore::saveVideo(const model::Video& video) {
  constexpr std::string_view op = "saveVideo";
  Transaction tx(db_, op);
  writeVideo(db_, video, op);
  tx.commit();
}

std::optional<model::Video> SqliteStore::getVideo(const std::string& id) {
  constexpr std::string_view op = "getVideo";
  // A read transaction so the row and its stages come from the same snapshot even if
  // another process writes in between.
  Transaction tx(db_, op, "BEGIN");
  auto video = readVideo(db_, id, op);
  tx.commit();
  return video;
}

namespace {

// Replaces a video's rows of a per-video table in one transaction: deletes them, then
// inserts `count` rows; `bindRow(statement, i)` binds parameters 3.. of row i (1 and 2
// are the video id and the row index).
template <class BindRow>
void replaceVideoRows(sqlite3* db, const char* deleteSql, const char* insertSql,
                      const std::string& videoId, std::size_t count, BindRow bindRow,
                      std::string_view op) {
  Transaction tx(db, op);
  {
    Statement del(db, deleteSql, op);
    del.bind(1, videoId);
    del.run();
  }
  Statement ins(db, insertSql, op);
  for (std::size_t i = 0; i < count; ++i) {
    ins.bind(1, videoId);
    ins.bind(2, static_cast<std::int64_t>(i));
    bindRow(ins, i);
    ins.run();
    ins.reset();
  }
  tx.commit();
}

}  // namespace

void SqliteStore::saveTranscript(const std::string& videoId,
                                 const std::vector<model::TranscriptSegment>& segments) {
  replaceVideoRows(
      db_, "DELETE FROM transcript_segments WHERE video_id = ?1",
      "INSERT INTO transcript_segments (video_id, idx, start_seconds, end_seconds, text) "
      "VALUES (?1, ?2, ?3, ?4, ?5)",
      videoId, segments.size(),
      [&](Statement& ins, std::size_t i) {
        ins.bind(3, segments[i].start);
        ins.bind(4, segments[i].end);
        ins.bind(5, segments[i].text);
      },
      "saveTranscript");
}

std::vector<model::TranscriptSegment> SqliteStore::transcript(const std::string& videoId) {
  constexpr std::string_view op = "transcript";
  Statement st(db_,
               "SELECT start_seconds, end_seconds, text FROM transcript_segments "
               "WHERE video_id = ?1 ORDER BY idx",
               op);
  st.bind(1, videoId);
  std::vector<model::TranscriptSegment> out;
  while (st.step()) out.push_back({st.real(0), st.real(1), st.text(2)});
  return out;
}

void SqliteStore::saveEmbeddings(const std::string& videoId, const std::string& model,
                                 const std::vector<std::vector<float>>& vectors) {
  replaceVideoRows(
      db_, "DELETE FROM embeddings WHERE video_id = ?1",
      "INSERT INTO embeddings (video_id, idx, model, dimension, vector) "
      "VALUES (?1, ?2, ?3, ?4, ?5)",
      videoId, vectors.size(),
      [&](Statement& ins, std::size_t i) {
        ins.bind(3, model);
        ins.bind(4, static_cast<std::int64_t>(vectors[i].size()));
        // Little-endian float32, the layout every vector store reads.
        ins.bindBlob(5, std::string(reinterpret_cast<const char*>(vectors[i].data()),
                                    vectors[i].size() * sizeof(float)));
      },
      "saveEmbeddings");
}

// ---------------------------------------------------------------------------------------
// Group commit
// ---------------------------------------------------------------------------------------

void SqliteStore::beginBatch() {
  // Prepared once and cached, like every statement here: sqlite3_exec would parse
  // these again for every batch (~2k instructions each).
  Statement(db_, "BEGIN IMMEDIATE", "beginBatch").run();
  dropCacheIfChangedElsewhere();
  inWriteTransaction_ = true;
}

void SqliteStore::commitBatch() {
  Statement(db_, "COMMIT", "commitBatch").run();
  inWriteTransaction_ = false;
}

void SqliteStore::rollbackBatch() {
  inWriteTransaction_ = false;
  forgetAll();  // writes of the batch are undone: so are their cached results
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace herald::storage