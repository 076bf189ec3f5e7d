// SqliteStore: the Store interface over one SQLite file, through the C API.
//
// Design notes:
// - One connection, used from the single storage executor, so it is opened NOMUTEX.
// - WAL journal with synchronous=NORMAL: readers (e.g. an operator's sqlite3 shell) never
//   block the writer, and a commit costs no fsync; a power cut may lose the last commits
//   but never corrupts the file.
// - Statements are prepared per call. The header keeps only the connection handle, and
//   preparing these short statements is cheap next to the fsync-free commit anyway.
// - Every multi-row write (job + history entry, video + stages) runs in one
//   BEGIN IMMEDIATE transaction so a failure leaves nothing half-written. IMMEDIATE takes
//   the write lock up front, so lock contention surfaces (after busy_timeout) at BEGIN
//   instead of as an unretryable SQLITE_BUSY in the middle of the transaction.
// - The schema is versioned with PRAGMA user_version; kMigrations[i] upgrades version i to
//   i + 1, so a later schema change is one more entry in that list.
#include "storage/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <string>
#include <unordered_map>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace herald::storage {
namespace {

namespace json = boost::json;

[[noreturn]] void fail(std::string_view op, std::string_view what) {
  std::string msg = "sqlite store: ";
  msg.append(op).append(": ").append(what);
  throw StoreError(msg);
}

[[noreturn]] void failDb(sqlite3* db, std::string_view op) { fail(op, sqlite3_errmsg(db)); }

// Runs SQL that returns no rows we care about (pragmas, DDL, transaction control).
void exec(sqlite3* db, const char* sql, std::string_view op) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string what = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    fail(op, what);
  }
}

// Prepared statements are cached per connection and reused: preparing (parsing and
// planning) costs more than running these one-row statements, and the progress path runs
// them for every update. The cache belongs to the store's single thread of use; the
// mutex only guards the map against stores on other threads (tests).
struct CachedStatement {
  sqlite3_stmt* stmt = nullptr;
  bool inUse = false;
};
std::mutex gCacheMutex;
std::unordered_map<sqlite3*, std::unordered_map<std::string, CachedStatement>> gCache;

// In front of the map, per thread: the entry last found for a given SQL text's address.
// Hashing the ~250-byte text and copying it into a key cost more than the rest of taking
// a statement, and nearly every statement is a literal with a fixed address. A hit is
// still checked against the statement's own text, since a temporary string may later
// hold other SQL at the same address; the generation drops every hit when any
// connection's cache is forgotten (its entries are then gone).
struct FrontEntry {
  sqlite3* db = nullptr;
  const char* sql = nullptr;
  std::size_t size = 0;
  std::uint64_t generation = 0;
  CachedStatement* entry = nullptr;
};
constexpr std::size_t kFrontSlots = 64;
thread_local std::array<FrontEntry, kFrontSlots> tFront;
std::atomic<std::uint64_t> gGeneration{1};

FrontEntry& frontSlot(std::string_view sql) {
  auto key = reinterpret_cast<std::uintptr_t>(sql.data()) ^ (sql.size() << 4);
  return tFront[(key >> 3) % kFrontSlots];
}

void forgetCache(sqlite3* db) {
  std::lock_guard lock(gCacheMutex);
  gCache.erase(db);
  gGeneration.fetch_add(1);
  // Finalize everything still prepared on this connection (cached or not).
  while (sqlite3_stmt* stmt = sqlite3_next_stmt(db, nullptr)) sqlite3_finalize(stmt);
}

// One prepared statement, taken from the connection's cache (or prepared for this use
// when the cached one is busy). Bind indexes are 1-based, column indexes 0-based, as in
// the C API. Text is bound SQLITE_TRANSIENT so callers may pass temporaries.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql, std::string_view op) : db_(db), op_(op) {
    // A connection is used by one thread at a time (NOMUTEX), so its entries' inUse flags
    // need no lock; the mutex guards the maps' structure only.
    auto& front = frontSlot(sql);
    if (front.db == db && front.sql == sql.data() && front.size == sql.size() &&
        front.generation == gGeneration.load() && !front.entry->inUse &&
        std::string_view(sqlite3_sql(front.entry->stmt)) == sql) {
      front.entry->inUse = true;
      cached_ = front.entry;
      stmt_ = front.entry->stmt;
      return;
    }
    {
      std::lock_guard lock(gCacheMutex);
      auto& entry = gCache[db][std::string(sql)];
      if (entry.stmt && !entry.inUse) {
        entry.inUse = true;
        cached_ = &entry;
        stmt_ = entry.stmt;
        front = {db, sql.data(), sql.size(), gGeneration.load(), &entry};
        return;
      }
      if (!entry.stmt) cached_ = &entry;
    }
    if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                           cached_ ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_, nullptr) != SQLITE_OK) {
      cached_ = nullptr;
      failDb(db, op);
    }
    if (cached_) {
      std::lock_guard lock(gCacheMutex);
      cached_->stmt = stmt_;
      cached_->inUse = true;
    }
  }
  ~Statement() {
    if (cached_) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
      std::lock_guard lock(gCacheMutex);
      cached_->inUse = false;
    } else {
      sqlite3_finalize(stmt_);
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int i, std::string_view text) {
    check(sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  // Text that outlives the statement's run (a field of an object the caller holds): bound
  // in place, not copied (SQLITE_STATIC); the destructor clears the bindings. For the
  // per-report statements, whose text binds otherwise cost a malloc and a copy each.
  void bindInPlace(int i, std::string_view text) {
    check(sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  void bindInPlace(int i, const std::string& text) { bindInPlace(i, std::string_view(text)); }
  void bindInPlace(int i, const std::optional<std::string>& text) {
    if (text)
      bindInPlace(i, std::string_view(*text));
    else
      check(sqlite3_bind_null(stmt_, i));
  }
  void bind(int i, const char* text) { bind(i, std::string_view(text)); }
  void bind(int i, const std::string& text) { bind(i, std::string_view(text)); }
  void bind(int i, std::int64_t value) { check(sqlite3_bind_int64(stmt_, i, value)); }
  void bind(int i, int value) { check(sqlite3_bind_int(stmt_, i, value)); }
  void bind(int i, double value) { check(sqlite3_bind_double(stmt_, i, value)); }
  void bindBlob(int i, const std::string& bytes) {
    check(sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()),
                            SQLITE_TRANSIENT));
  }
  template <typename T>
  void bind(int i, const std::optional<T>& value) {
    if (value) {
      bind(i, *value);
    } else {
      check(sqlite3_bind_null(stmt_, i));
    }
  }

  // True when a row is available, false when the statement has finished.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    failDb(db_, op_);
  }
  // Runs a statement that returns no rows.
  void run() {
    while (step()) {
    }
  }
  // Makes the statement runnable again; bindings stay until rebound.
  void reset() { sqlite3_reset(stmt_); }

  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    // Length from column_bytes, not strlen, so embedded NULs survive the round trip.
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::optional<std::string> optText(int col) const {
    if (isNull(col)) return std::nullopt;
    return text(col);
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<std::int64_t> optInt64(int col) const {
    if (isNull(col)) return std::nullopt;
    return int64(col);
  }
  int integer(int col) const { return sqlite3_column_int(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) failDb(db_, op_);
  }

  sqlite3* db_;
  std::string_view op_;
  sqlite3_stmt* stmt_ = nullptr;
  CachedStatement* cached_ = nullptr;  // points into gCache (node-stable map)
};

// Scoped transaction: rolls back unless commit() succeeded.
// Inside an open batch (beginBatch) it is a SAVEPOINT, so one failed operation rolls
// back alone and the batch goes on.
class Transaction {
 public:
  Transaction(sqlite3* db, std::string_view op, const char* begin = "BEGIN IMMEDIATE")
      : db_(db), op_(op), nested_(!sqlite3_get_autocommit(db)) {
    // Prepared (and cached) rather than sqlite3_exec'd: parsing these on every update
    // cost more than the update itself.
    Statement(db_, nested_ ? "SAVEPOINT herald_op" : begin, op_).run();
  }
  ~Transaction() {
    if (done_) return;
    if (nested_) {
      sqlite3_exec(db_, "ROLLBACK TO herald_op; RELEASE herald_op", nullptr, nullptr, nullptr);
      return;
    }
    // Some errors (SQLITE_FULL, IOERR) already rolled back; ROLLBACK would then fail.
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open; the destructor
  // then rolls it back.
  void commit() {
    Statement(db_, nested_ ? "RELEASE herald_op" : "COMMIT", op_).run();
    done_ = true;
  }

 private:
  sqlite3* db_;
  std::string_view op_;
  bool nested_;
  bool done_ = false;
};

// kMigrations[i] takes the schema from user_version i to i + 1.
constexpr const char* kMigrations[] = {
    // 1: initial schema.
    R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id             TEXT PRIMARY KEY NOT NULL,
  video_id       TEXT NOT NULL DEFAULT '',
  user_id        TEXT NOT NULL DEFAULT '',
  job_type       TEXT NOT NULL,
  status         TEXT NOT NULL,
  progress       REAL NOT NULL DEFAULT 0,
  current_stage  TEXT NOT NULL DEFAULT '',
  status_message TEXT NOT NULL DEFAULT '',
  error_message  TEXT,
  metadata       TEXT NOT NULL DEFAULT '{}',
  priority       INTEGER NOT NULL DEFAULT 0,
  attempts       INTEGER NOT NULL DEFAULT 0,
  max_attempts   INTEGER NOT NULL DEFAULT 3,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  started_at     INTEGER,
  completed_at   INTEGER,
  sequence       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, priority DESC, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user_id);
CREATE INDEX IF NOT EXISTS jobs_by_video ON jobs (video_id);

CREATE TABLE IF NOT EXISTS job_progress (
  job_id         TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  sequence       INTEGER NOT NULL,
  status         TEXT NOT NULL,
  progress       REAL NOT NULL DEFAULT 0,
  current_stage  TEXT NOT NULL DEFAULT '',
  status_message TEXT NOT NULL DEFAULT '',
  error_message  TEXT,
  metadata       TEXT NOT NULL DEFAULT '{}',
  updated_at     INTEGER NOT NULL,
  PRIMARY KEY (job_id, sequence)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS videos (
  id                   TEXT PRIMARY KEY NOT NULL,
  user_id              TEXT NOT NULL DEFAULT '',
  url                  TEXT NOT NULL DEFAULT '',
  title                TEXT NOT NULL DEFAULT '',
  duration_seconds     REAL NOT NULL DEFAULT 0,
  processing_status    TEXT NOT NULL,
  transcription_status TEXT NOT NULL,
  embedding_status     TEXT NOT NULL,
  overall_progress     REAL NOT NULL DEFAULT 0,
  created_at           INTEGER NOT NULL,
  updated_at           INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS video_stages (
  video_id      TEXT NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
  ordinal       INTEGER NOT NULL,
  name          TEXT NOT NULL,
  status        TEXT NOT NULL,
  progress      REAL NOT NULL DEFAULT 0,
  started_at    INTEGER,
  completed_at  INTEGER,
  error_message TEXT,
  PRIMARY KEY (video_id, ordinal)
);
)sql",
    // 2: the job queue (retry backoff), transcripts and embeddings.
    R"sql(
ALTER TABLE jobs ADD COLUMN available_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN runner TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs (status, priority DESC, created_at, available_at);

CREATE TABLE IF NOT EXISTS transcript_segments (
  video_id      TEXT NOT NULL,
  idx           INTEGER NOT NULL,
  start_seconds REAL NOT NULL,
  end_seconds   REAL NOT NULL,
  text          TEXT NOT NULL,
  PRIMARY KEY (video_id, idx)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS embeddings (
  video_id  TEXT NOT NULL,
  idx       INTEGER NOT NULL,
  model     TEXT NOT NULL,
  dimension INTEGER NOT NULL,
  vector    BLOB NOT NULL,
  PRIMARY KEY (video_id, idx)
) WITHOUT ROWID;
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

void migrate(sqlite3* db) {
  constexpr std::string_view op = "open (schema)";
  int version = 0;
  {
    Statement st(db, "PRAGMA user_version", op);
    if (st.step()) version = st.integer(0);
  }
  if (version > kSchemaVersion) {
    // Written by a newer Herald; guessing at its layout could corrupt it.
    fail(op, "database schema version " + std::to_string(version) +
                 " is newer than this build supports (" + std::to_string(kSchemaVersion) + ")");
  }
  for (; version < kSchemaVersion; ++version) {
    Transaction tx(db, op);
    exec(db, kMigrations[version], op);
    // user_version lives in the file header and is transactional: it moves with the DDL.
    exec(db, ("PRAGMA user_version = " + std::to_string(version + 1)).c_str(), op);
    tx.commit();
  }
}

std::string metadataText(const json::object& metadata) { return json::serialize(metadata); }

// Corrupt or non-object metadata must not make the whole job unreadable.
json::object parseMetadata(const std::string& text) {
  std::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.as_object());
}

model::JobStatus parseStatus(const std::string& text, std::string_view op) {
  auto status = model::parseJobStatus(text);
  if (!status) fail(op, "unknown job status '" + text + "' in database");
  return *status;
}

// Column order shared by INSERT, UPDATE and SELECT on jobs; bindJob/readJob follow it.
constexpr const char* kJobColumns =
    "id, video_id, user_id, job_type, status, progress, current_stage, status_message, "
    "error_message, metadata, priority, attempts, max_attempts, created_at, updated_at, "
    "started_at, completed_at, sequence, available_at, runner";

void bindJob(Statement& st, const model::Job& job) {
  st.bind(1, job.id);
  st.bind(2, job.videoId);
  st.bind(3, job.userId);
  st.bind(4, job.jobType);
  st.bind(5, model::toString(job.status));
  st.bind(6, job.progress);
  st.bind(7, job.currentStage);
  st.bind(8, job.statusMessage);
  st.bind(9, job.errorMessage);
  st.bind(10, metadataText(job.metadata));
  st.bind(11, job.priority);
  st.bind(12, job.attempts);
  st.bind(13, job.maxAttempts);
  st.bind(14, job.createdAt);
  st.bind(15, job.updatedAt);
  st.bind(16, job.startedAt);
  st.bind(17, job.completedAt);
  st.bind(18, job.sequence);
  st.bind(19, job.availableAt);
  st.bind(20, job.runner);
}

model::Job readJob(const Statement& st, std::string_view op) {
  model::Job job;
  job.id = st.text(0);
  job.videoId = st.text(1);
  job.userId = st.text(2);
  job.jobType = st.text(3);
  job.status = parseStatus(st.text(4), op);
  job.progress = st.real(5);
  job.currentStage = st.text(6);
  job.statusMessage = st.text(7);
  job.errorMessage = st.optText(8);
  job.metadata = parseMetadata(st.text(9));
  job.priority = st.integer(10);
  job.attempts = st.integer(11);
  job.maxAttempts = st.integer(12);
  job.createdAt = st.int64(13);
  job.updatedAt = st.int64(14);
  job.startedAt = st.optInt64(15);
  job.completedAt = st.optInt64(16);
  job.sequence = st.int64(17);
  job.availableAt = st.int64(18);
  job.runner = st.text(19);
  return job;
}

void insertJob(sqlite3* db, const model::Job& job, std::string_view op) {
  Statement st(db,
               std::string("INSERT INTO jobs (") + kJobColumns +
                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                   "?16, ?17, ?18, ?19, ?20)",
               op);
  bindJob(st, job);
  st.run();
}

// Returns false when no job has this id.
bool updateJob(sqlite3* db, const model::Job& job, std::string_view op) {
  Statement st(db,
               "UPDATE jobs SET video_id = ?2, user_id = ?3, job_type = ?4, status = ?5, "
               "progress = ?6, current_stage = ?7, status_message = ?8, error_message = ?9, "
               "metadata = ?10, priority = ?11, attempts = ?12, max_attempts = ?13, "
               "created_at = ?14, updated_at = ?15, started_at = ?16, completed_at = ?17, "
               "sequence = ?18, available_at = ?19, runner = ?20 WHERE id = ?1",
               op);
  bindJob(st, job);
  st.run();
  return sqlite3_changes(db) > 0;
}

// Writes only what a progress update can change. Leaving the identity columns (video,
// user, type, priority, creation time, runner) out of the SET keeps SQLite from rewriting
// the indexes built on them at every update; with `withStatus` false, status and
// available_at stay out too (the common report that keeps the status then leaves the
// status and runnable indexes alone). `metadata` is the job's metadata serialised (the
// history entry written beside it stores the same text). Returns false when no job has
// this id.
bool updateJobProgress(sqlite3* db, const model::Job& job, const std::string& metadata,
                       bool withStatus, std::string_view op) {
  Statement st(db,
               withStatus
                   ? "UPDATE jobs SET progress = ?2, current_stage = ?3, status_message = ?4, "
                     "error_message = ?5, metadata = ?6, attempts = ?7, updated_at = ?8, "
                     "started_at = ?9, completed_at = ?10, sequence = ?11, status = ?12, "
                     "available_at = ?13 WHERE id = ?1"
                   : "UPDATE jobs SET progress = ?2, current_stage = ?3, status_message = ?4, "
                     "error_message = ?5, metadata = ?6, attempts = ?7, updated_at = ?8, "
                     "started_at = ?9, completed_at = ?10, sequence = ?11 WHERE id = ?1",
               op);
  st.bindInPlace(1, job.id);
  st.bind(2, job.progress);
  st.bindInPlace(3, job.currentStage);
  st.bindInPlace(4, job.statusMessage);
  st.bindInPlace(5, job.errorMessage);
  st.bindInPlace(6, metadata);
  st.bind(7, job.attempts);
  st.bind(8, job.updatedAt);
  st.bind(9, job.startedAt);
  st.bind(10, job.completedAt);
  st.bind(11, job.sequence);
  if (withStatus) {
    st.bind(12, model::toString(job.status));
    st.bind(13, job.availableAt);
  }
  st.run();
  return sqlite3_changes(db) > 0;
}

// `metadata`: the entry's metadata serialised.
void insertEntry(sqlite3* db, const model::ProgressEntry& e, const std::string& metadata,
                 std::string_view op) {
  Statement st(db,
               "INSERT INTO job_progress (job_id, sequence, status, progress, current_stage, "
               "status_message, error_message, metadata, updated_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
               op);
  st.bindInPlace(1, e.jobId);
  st.bind(2, e.sequence);
  st.bindInPlace(3, model::toString(e.status));
  st.bind(4, e.progress);
  st.bindInPlace(5, e.currentStage);
  st.bindInPlace(6, e.statusMessage);
  st.bindInPlace(7, e.errorMessage);
  st.bindInPlace(8, metadata);
  st.bind(9, e.updatedAt);
  st.run();
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path, int checkpointPages) {
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
    exec(db_,
         "PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
         "PRAGMA foreign_keys=ON;",
         op);
    migrate(db_);
    exec(db_, ("PRAGMA wal_autocheckpoint=" + std::to_string(checkpointPages)).c_str(), op);
  } catch (...) {
    // The destructor does not run for a throwing constructor.
    forgetCache(db_);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
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
  try {
    Transaction tx(db_, op);
    insertJob(db_, job, op);
    insertEntry(db_, model::snapshotOf(job), metadataText(job.metadata), op);
    tx.commit();
  } catch (...) {
    job.sequence = previous;
    jobCache_.erase(job.id);
    throw;
  }
  remember(job);
}

model::ProgressEntry SqliteStore::recordUpdate(model::Job& job) {
  constexpr std::string_view op = "recordUpdate";
  const auto previous = job.sequence;
  job.sequence += 1;
  try {
    Transaction tx(db_, op);
    // The cache mirrors the row (see dropCacheIfChangedElsewhere, called first).
    dropCacheIfChangedElsewhere();
    auto cached = jobCache_.find(job.id);
    const bool sameStatus = cached != jobCache_.end() && cached->second.status == job.status &&
                            cached->second.availableAt == job.availableAt;
    // Serialised once for the row and its history entry.
    const auto metadata = metadataText(job.metadata);
    const bool updated = updateJobProgress(db_, job, metadata, !sameStatus, op);
    if (!updated) fail(op, "unknown job '" + job.id + "'");
    auto entry = model::snapshotOf(job);
    insertEntry(db_, entry, metadata, op);
    tx.commit();
    rememberProgress(job);
    return entry;
  } catch (...) {
    // The caller may retry with the same object; its sequence must match the database.
    job.sequence = previous;
    jobCache_.erase(job.id);
    throw;
  }
}

void SqliteStore::saveJobQuietly(const model::Job& job) {
  constexpr std::string_view op = "saveJobQuietly";
  jobCache_.erase(job.id);
  if (!herald::storage::updateJob(db_, job, op)) fail(op, "unknown job '" + job.id + "'");
  remember(job);
}

void SqliteStore::remember(const model::Job& job) {
  // Bounded: a server with more live jobs than this just reads some of them back.
  if (jobCache_.size() >= 4096 && !jobCache_.contains(job.id)) jobCache_.clear();
  jobCache_.insert_or_assign(job.id, job);
}

void SqliteStore::rememberProgress(const model::Job& job) {
  // Mirrors updateJobProgress: the identity columns were not written, so the cached
  // ones stay as they are in the database.
  auto it = jobCache_.find(job.id);
  if (it == jobCache_.end()) return;
  auto& c = it->second;
  c.status = job.status;
  c.progress = job.progress;
  c.currentStage = job.currentStage;
  c.statusMessage = job.statusMessage;
  c.errorMessage = job.errorMessage;
  c.metadata = job.metadata;
  c.attempts = job.attempts;
  c.updatedAt = job.updatedAt;
  c.startedAt = job.startedAt;
  c.completedAt = job.completedAt;
  c.sequence = job.sequence;
  c.availableAt = job.availableAt;
}

void SqliteStore::dropCacheIfChangedElsewhere() {
  // Inside a write transaction (a batch, BEGIN IMMEDIATE) no other connection can have
  // committed since it began, and beginBatch checked then.
  if (inWriteTransaction_) return;
  Statement st(db_, "PRAGMA data_version", "dataVersion");
  const std::int64_t version = st.step() ? st.int64(0) : -1;
  if (version != dataVersion_ || version < 0) jobCache_.clear();
  dataVersion_ = version;
}

std::optional<model::Job> SqliteStore::getJob(const std::string& id) {
  constexpr std::string_view op = "getJob";
  dropCacheIfChangedElsewhere();
  if (auto it = jobCache_.find(id); it != jobCache_.end()) return it->second;
  Statement st(db_, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?1", op);
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  auto job = readJob(st, op);
  remember(job);
  return job;
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
  if (filter.videoId) sql.append(glue).append("video_id = ?");
  // rowid breaks ties between jobs created in the same millisecond: later insert first.
  sql.append(" ORDER BY created_at DESC, rowid DESC LIMIT ?");

  Statement st(db_, sql, op);
  int i = 1;
  if (filter.status) st.bind(i++, model::toString(*filter.status));
  if (filter.userId) st.bind(i++, *filter.userId);
  if (filter.videoId) st.bind(i++, *filter.videoId);
  st.bind(i, std::clamp(filter.limit, 1, 1000));

  std::vector<model::Job> jobs;
  while (st.step()) jobs.push_back(readJob(st, op));
  return jobs;
}

std::vector<model::ProgressEntry> SqliteStore::progressHistory(const std::string& jobId,
                                                               std::int64_t afterSequence,
                                                               int limit) {
  constexpr std::string_view op = "progressHistory";
  Statement st(db_,
               "SELECT sequence, status, progress, current_stage, status_message, error_message, "
               "metadata, updated_at FROM job_progress WHERE job_id = ?1 AND sequence > ?2 "
               "ORDER BY sequence ASC LIMIT ?3",
               op);
  st.bind(1, jobId);
  st.bind(2, afterSequence);
  st.bind(3, std::clamp(limit, 1, 100000));

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
    e.metadata = parseMetadata(st.text(6));
    e.updatedAt = st.int64(7);
    entries.push_back(std::move(e));
  }
  return entries;
}

void SqliteStore::saveVideo(const model::Video& video) {
  constexpr std::string_view op = "saveVideo";
  Transaction tx(db_, op);
  {
    // An upsert rather than INSERT OR REPLACE: REPLACE deletes the old row first, which
    // with foreign keys on would cascade into video_stages behind our back. The effect on
    // the row is the same: every column takes the new value.
    Statement st(db_,
                 "INSERT INTO videos (id, user_id, url, title, duration_seconds, "
                 "processing_status, transcription_status, embedding_status, overall_progress, "
                 "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                 "ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, "
                 "url = excluded.url, title = excluded.title, "
                 "duration_seconds = excluded.duration_seconds, "
                 "processing_status = excluded.processing_status, "
                 "transcription_status = excluded.transcription_status, "
                 "embedding_status = excluded.embedding_status, "
                 "overall_progress = excluded.overall_progress, "
                 "created_at = excluded.created_at, updated_at = excluded.updated_at",
                 op);
    st.bind(1, video.id);
    st.bind(2, video.userId);
    st.bind(3, video.url);
    st.bind(4, video.title);
    st.bind(5, video.durationSeconds);
    st.bind(6, model::toString(video.processingStatus));
    st.bind(7, model::toString(video.transcriptionStatus));
    st.bind(8, model::toString(video.embeddingStatus));
    st.bind(9, video.overallProgress);
    st.bind(10, video.createdAt);
    st.bind(11, video.updatedAt);
    st.run();
  }
  {
    Statement st(db_, "DELETE FROM video_stages WHERE video_id = ?1", op);
    st.bind(1, video.id);
    st.run();
  }
  if (!video.stages.empty()) {
    Statement st(db_,
                 "INSERT INTO video_stages (video_id, ordinal, name, status, progress, "
                 "started_at, completed_at, error_message) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                 op);
    for (std::size_t i = 0; i < video.stages.size(); ++i) {
      const auto& stage = video.stages[i];
      st.bind(1, video.id);
      st.bind(2, static_cast<std::int64_t>(i));
      st.bind(3, stage.name);
      st.bind(4, model::toString(stage.status));
      st.bind(5, stage.progress);
      st.bind(6, stage.startedAt);
      st.bind(7, stage.completedAt);
      st.bind(8, stage.errorMessage);
      st.run();
      st.reset();
    }
  }
  tx.commit();
}

std::optional<model::Video> SqliteStore::getVideo(const std::string& id) {
  constexpr std::string_view op = "getVideo";
  // A read transaction so the row and its stages come from the same snapshot even if
  // another process writes in between.
  Transaction tx(db_, op, "BEGIN");
  model::Video video;
  {
    Statement st(db_,
                 "SELECT id, user_id, url, title, duration_seconds, processing_status, "
                 "transcription_status, embedding_status, overall_progress, created_at, "
                 "updated_at FROM videos WHERE id = ?1",
                 op);
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    video.id = st.text(0);
    video.userId = st.text(1);
    video.url = st.text(2);
    video.title = st.text(3);
    video.durationSeconds = st.real(4);
    // An unknown name (a corrupt row) reads as the initial state rather than failing the
    // whole video: the next stage update recomputes the summary.
    video.processingStatus =
        model::parseProcessingStatus(st.text(5)).value_or(model::ProcessingStatus::Pending);
    video.transcriptionStatus = model::parseTranscriptionStatus(st.text(6))
                                    .value_or(model::TranscriptionStatus::NotStarted);
    video.embeddingStatus =
        model::parseEmbeddingStatus(st.text(7)).value_or(model::EmbeddingStatus::NotStarted);
    video.overallProgress = st.real(8);
    video.createdAt = st.int64(9);
    video.updatedAt = st.int64(10);
  }
  {
    Statement st(db_,
                 "SELECT name, status, progress, started_at, completed_at, error_message "
                 "FROM video_stages WHERE video_id = ?1 ORDER BY ordinal ASC",
                 op);
    st.bind(1, id);
    while (st.step()) {
      model::VideoStage stage;
      stage.name = st.text(0);
      stage.status = model::parseStageStatus(st.text(1)).value_or(model::StageStatus::Pending);
      stage.progress = st.real(2);
      stage.startedAt = st.optInt64(3);
      stage.completedAt = st.optInt64(4);
      stage.errorMessage = st.optText(5);
      video.stages.push_back(std::move(stage));
    }
  }
  tx.commit();
  return video;
}

}  // namespace herald::storage

namespace herald::storage {

std::optional<model::Job> SqliteStore::nextRunnableJob(std::int64_t now) {
  constexpr std::string_view op = "nextRunnableJob";
  Statement st(
      db_,
      std::string("SELECT ") + kJobColumns +
          " FROM jobs WHERE status = 'Pending' AND available_at <= ?1 AND runner = 'herald' "
          "ORDER BY priority DESC, created_at, rowid LIMIT 1",
      op);
  st.bind(1, now);
  if (!st.step()) return std::nullopt;
  return readJob(st, op);
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

std::size_t SqliteStore::embeddingCount(const std::string& videoId) {
  constexpr std::string_view op = "embeddingCount";
  Statement st(db_, "SELECT COUNT(*) FROM embeddings WHERE video_id = ?1", op);
  st.bind(1, videoId);
  return st.step() ? static_cast<std::size_t>(st.int64(0)) : 0;
}

}  // namespace herald::storage

namespace herald::storage {

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
  jobCache_.clear();  // writes of the batch are undone: so are their cached results
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace herald::storage
