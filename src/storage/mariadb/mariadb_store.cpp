// MariaDbStore: the Store interface over InnoDB tables (mariadb_store.h for how the
// contract maps onto them; schema.cpp for the tables).
#include "storage/mariadb/mariadb_store.h"

#include <algorithm>
#include <system_error>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "model/metadata_history.h"
#include "storage/mariadb/connection.h"
#include "storage/mariadb/schema.h"

namespace herald::storage {

using namespace mariadb;  // NOLINT: this file is the MariaDB implementation

namespace {

namespace json = boost::json;

constexpr int kDeadlockRetries = 3;
// A multi-row INSERT is sent once it reaches this size, well under the server's default
// max_allowed_packet (16 MB in MariaDB 10.11, 64 MB in MySQL 8).
constexpr std::size_t kInsertChunkBytes = 1 << 20;
// The most history rows one progressHistory call returns (REST pages by afterSequence).
constexpr int kMaxHistoryPage = 1000;

std::string metadataText(const json::object& metadata) { return json::serialize(metadata); }

// Corrupt or non-object metadata must not make the whole job unreadable: it reads as {}.
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

constexpr const char* kJobColumns =
    "id, video_id, user_id, job_type, status, progress, current_stage, status_message, "
    "error_message, metadata, priority, attempts, max_attempts, created_at, updated_at, "
    "started_at, completed_at, sequence, available_at, runner, lease_owner, lease_token, "
    "lease_expires_at, lease_ms";

// Fills the placeholders of kJobColumns' order (24 of them).
Sql& bindJob(Sql& sql, const model::Job& job, const std::string& metadata) {
  return sql.arg(job.id)
      .arg(job.videoId)
      .arg(job.userId)
      .arg(job.jobType)
      .arg(model::toString(job.status))
      .arg(job.progress)
      .arg(job.currentStage)
      .arg(job.statusMessage)
      .arg(job.errorMessage)
      .arg(metadata)
      .arg(job.priority)
      .arg(job.attempts)
      .arg(job.maxAttempts)
      .arg(job.createdAt)
      .arg(job.updatedAt)
      .arg(job.startedAt)
      .arg(job.completedAt)
      .arg(job.sequence)
      .arg(job.availableAt)
      .arg(job.runner)
      .arg(job.leaseOwner)
      .arg(job.leaseToken)
      .arg(job.leaseExpiresAt)
      .arg(job.leaseMillis);
}

model::Job readJob(const Rows& r, std::string_view op) {
  model::Job job;
  job.id = r.text(0);
  job.videoId = r.text(1);
  job.userId = r.text(2);
  job.jobType = r.text(3);
  job.status = parseStatus(r.text(4), op);
  job.progress = r.real(5);
  job.currentStage = r.text(6);
  job.statusMessage = r.text(7);
  job.errorMessage = r.optText(8);
  job.metadata = parseMetadata(r.text(9));
  job.priority = r.integer(10);
  job.attempts = r.integer(11);
  job.maxAttempts = r.integer(12);
  job.createdAt = r.int64(13);
  job.updatedAt = r.int64(14);
  job.startedAt = r.optInt64(15);
  job.completedAt = r.optInt64(16);
  job.sequence = r.int64(17);
  job.availableAt = r.int64(18);
  job.runner = r.text(19);
  job.leaseOwner = r.text(20);
  job.leaseToken = r.text(21);
  job.leaseExpiresAt = r.int64(22);
  job.leaseMillis = r.int64(23);
  return job;
}

void insertJob(Connection& c, const model::Job& job, const std::string& metadata,
               std::string_view op) {
  Sql sql(c,
          std::string("INSERT INTO jobs (") + kJobColumns +
              ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  c.exec(bindJob(sql, job, metadata).str(), op);
}

void updateJobRow(Connection& c, const model::Job& job, const std::string& metadata,
                  std::string_view op) {
  // The id goes last (WHERE); the SET list takes the other 23 in kJobColumns' order.
  Sql sql(c,
          "UPDATE jobs SET video_id = ?, user_id = ?, job_type = ?, status = ?, progress = ?, "
          "current_stage = ?, status_message = ?, error_message = ?, metadata = ?, "
          "priority = ?, attempts = ?, max_attempts = ?, created_at = ?, updated_at = ?, "
          "started_at = ?, completed_at = ?, sequence = ?, available_at = ?, runner = ?, "
          "lease_owner = ?, lease_token = ?, lease_expires_at = ?, lease_ms = ? WHERE id = ?");
  sql.arg(job.videoId)
      .arg(job.userId)
      .arg(job.jobType)
      .arg(model::toString(job.status))
      .arg(job.progress)
      .arg(job.currentStage)
      .arg(job.statusMessage)
      .arg(job.errorMessage)
      .arg(metadata)
      .arg(job.priority)
      .arg(job.attempts)
      .arg(job.maxAttempts)
      .arg(job.createdAt)
      .arg(job.updatedAt)
      .arg(job.startedAt)
      .arg(job.completedAt)
      .arg(job.sequence)
      .arg(job.availableAt)
      .arg(job.runner)
      .arg(job.leaseOwner)
      .arg(job.leaseToken)
      .arg(job.leaseExpiresAt)
      .arg(job.leaseMillis)
      .arg(job.id);
  c.exec(sql.str(), op);
}

// `metadata`: what the entry records of the job's metadata (model/metadata_history.h).
void insertEntry(Connection& c, const model::ProgressEntry& e,
                 const model::MetadataRecord& metadata, std::string_view op) {
  Sql sql(c,
          "INSERT INTO job_progress (job_id, sequence, status, progress, current_stage, "
          "status_message, error_message, metadata, updated_at, metadata_kind) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  sql.arg(e.jobId)
      .arg(e.sequence)
      .arg(model::toString(e.status))
      .arg(e.progress)
      .arg(e.currentStage)
      .arg(e.statusMessage)
      .arg(e.errorMessage)
      .arg(metadata.text)
      .arg(e.updatedAt)
      .arg(static_cast<int>(metadata.kind));
  c.exec(sql.str(), op);
}

// What a history row records of a change's metadata; asks for the patches since the last
// full copy (ranges of the job_progress_metadata index) only when the metadata changed.
model::MetadataRecord historyRecord(Connection& c, const model::Job& stored, const model::Job& job,
                                    const std::string& fullText, std::string_view op) {
  if (stored.metadata == job.metadata) return {};
  auto rows = c.query(Sql(c,
                          "SELECT COALESCE(SUM(LENGTH(metadata)), 0) FROM job_progress WHERE "
                          "job_id = ? AND metadata_kind = 2 AND sequence > (SELECT "
                          "COALESCE(MAX(sequence), 0) FROM job_progress WHERE job_id = ? AND "
                          "metadata_kind = 1)")
                          .arg(job.id)
                          .arg(job.id)
                          .str(),
                      op);
  const auto patchBytes = rows.next() ? static_cast<std::size_t>(rows.int64(0)) : 0;
  return model::recordMetadata(stored.metadata, job.metadata, fullText, patchBytes);
}

// The job's metadata as of history row `sequence` (empty for 0): its last full copy at or
// before it, and the patches after that.
json::object metadataAt(Connection& c, const std::string& jobId, std::int64_t sequence,
                        std::string_view op) {
  json::object state;
  if (sequence <= 0) return state;
  std::int64_t fullAt = 0;
  {
    auto rows = c.query(Sql(c,
                            "SELECT sequence, metadata FROM job_progress WHERE job_id = ? AND "
                            "metadata_kind = 1 AND sequence <= ? ORDER BY sequence DESC LIMIT 1")
                            .arg(jobId)
                            .arg(sequence)
                            .str(),
                        op);
    if (rows.next()) {
      fullAt = rows.int64(0);
      model::applyMetadata(state, model::MetadataKind::Full, rows.text(1));
    }
  }
  auto rows = c.query(Sql(c,
                          "SELECT metadata FROM job_progress WHERE job_id = ? AND metadata_kind = "
                          "2 AND sequence > ? AND sequence <= ? ORDER BY sequence")
                          .arg(jobId)
                          .arg(fullAt)
                          .arg(sequence)
                          .str(),
                      op);
  while (rows.next()) model::applyMetadata(state, model::MetadataKind::Patch, rows.text(0));
  return state;
}

// Scoped transaction: START TRANSACTION, or a savepoint inside an open batch (one failed
// call is undone alone and the batch goes on). Rolls back unless commit() succeeded.
class Transaction {
 public:
  Transaction(Connection& c, bool nested, std::string_view op) : c_(c), nested_(nested), op_(op) {
    c_.exec(nested_ ? "SAVEPOINT herald_call" : "START TRANSACTION", op_);
  }
  ~Transaction() {
    if (done_) return;
    try {
      c_.exec(nested_ ? "ROLLBACK TO SAVEPOINT herald_call" : "ROLLBACK", op_);
    } catch (...) {
      // A lost connection or a deadlock has already rolled the transaction back.
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    c_.exec(nested_ ? "RELEASE SAVEPOINT herald_call" : "COMMIT", op_);
    done_ = true;
  }

 private:
  Connection& c_;
  bool nested_;
  std::string_view op_;
  bool done_ = false;
};

std::optional<model::Video> readVideo(Connection& c, const std::string& id, bool forUpdate,
                                      std::string_view op) {
  // One statement for the row and its stages, so they come from one snapshot.
  Sql sql(c, std::string("SELECT v.id, v.user_id, v.url, v.title, v.duration_seconds, "
                         "v.processing_status, v.transcription_status, v.embedding_status, "
                         "v.overall_progress, v.created_at, v.updated_at, s.name, s.status, "
                         "s.progress, s.started_at, s.completed_at, s.error_message "
                         "FROM videos v LEFT JOIN video_stages s ON s.video_id = v.id "
                         "WHERE v.id = ? ORDER BY s.ordinal") +
                 (forUpdate ? " FOR UPDATE" : ""));
  auto rows = c.query(sql.arg(id).str(), op);
  if (!rows.next()) return std::nullopt;
  model::Video video;
  video.id = rows.text(0);
  video.userId = rows.text(1);
  video.url = rows.text(2);
  video.title = rows.text(3);
  video.durationSeconds = rows.real(4);
  // An unknown name (a corrupt row) reads as the initial state rather than failing the
  // whole video: the next stage update recomputes the summary.
  video.processingStatus =
      model::parseProcessingStatus(rows.text(5)).value_or(model::ProcessingStatus::Pending);
  video.transcriptionStatus = model::parseTranscriptionStatus(rows.text(6))
                                  .value_or(model::TranscriptionStatus::NotStarted);
  video.embeddingStatus =
      model::parseEmbeddingStatus(rows.text(7)).value_or(model::EmbeddingStatus::NotStarted);
  video.overallProgress = rows.real(8);
  video.createdAt = rows.int64(9);
  video.updatedAt = rows.int64(10);
  do {
    if (rows.isNull(11)) continue;  // no stages: the LEFT JOIN's one row of NULLs
    model::VideoStage stage;
    stage.name = rows.text(11);
    stage.status = model::parseStageStatus(rows.text(12)).value_or(model::StageStatus::Pending);
    stage.progress = rows.real(13);
    stage.startedAt = rows.optInt64(14);
    stage.completedAt = rows.optInt64(15);
    stage.errorMessage = rows.optText(16);
    video.stages.push_back(std::move(stage));
  } while (rows.next());
  return video;
}

// Sends "INSERT ... VALUES (..), (..)" in chunks of about kInsertChunkBytes.
class MultiInsert {
 public:
  MultiInsert(Connection& c, std::string head, std::string_view op)
      : c_(c), head_(std::move(head)), op_(op) {}
  void add(const std::string& tuple) {
    if (sql_.empty()) {
      sql_ = head_;
    } else {
      sql_ += ", ";
    }
    sql_ += tuple;
    if (sql_.size() >= kInsertChunkBytes) flush();
  }
  void flush() {
    if (sql_.empty()) return;
    c_.exec(sql_, op_);
    sql_.clear();
  }

 private:
  Connection& c_;
  std::string head_;
  std::string_view op_;
  std::string sql_;
};

void writeVideo(Connection& c, const model::Video& video, std::string_view op) {
  // An upsert rather than REPLACE: REPLACE deletes the old row first, which would cascade
  // into video_stages. Every column takes the new value.
  Sql upsert(c,
             "INSERT INTO videos (id, user_id, url, title, duration_seconds, processing_status, "
             "transcription_status, embedding_status, overall_progress, created_at, "
             "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
             "user_id = VALUES(user_id), url = VALUES(url), title = VALUES(title), "
             "duration_seconds = VALUES(duration_seconds), "
             "processing_status = VALUES(processing_status), "
             "transcription_status = VALUES(transcription_status), "
             "embedding_status = VALUES(embedding_status), "
             "overall_progress = VALUES(overall_progress), created_at = VALUES(created_at), "
             "updated_at = VALUES(updated_at)");
  upsert.arg(video.id)
      .arg(video.userId)
      .arg(video.url)
      .arg(video.title)
      .arg(video.durationSeconds)
      .arg(model::toString(video.processingStatus))
      .arg(model::toString(video.transcriptionStatus))
      .arg(model::toString(video.embeddingStatus))
      .arg(video.overallProgress)
      .arg(video.createdAt)
      .arg(video.updatedAt);
  c.exec(upsert.str(), op);
  c.exec(Sql(c, "DELETE FROM video_stages WHERE video_id = ?").arg(video.id).str(), op);
  MultiInsert insert(c,
                     "INSERT INTO video_stages (video_id, ordinal, name, status, progress, "
                     "started_at, completed_at, error_message) VALUES ",
                     op);
  for (std::size_t i = 0; i < video.stages.size(); ++i) {
    const auto& stage = video.stages[i];
    insert.add(Sql(c, "(?, ?, ?, ?, ?, ?, ?, ?)")
                   .arg(video.id)
                   .arg(static_cast<std::int64_t>(i))
                   .arg(stage.name)
                   .arg(model::toString(stage.status))
                   .arg(stage.progress)
                   .arg(stage.startedAt)
                   .arg(stage.completedAt)
                   .arg(stage.errorMessage)
                   .str());
  }
  insert.flush();
}

}  // namespace

namespace {

// Called from a catch block: a write refused for good (a read-only user or server) as the
// operator should read it; any other error rethrown as it is.
[[noreturn]] void rethrowUnwritable(const DbError& e, std::string_view op,
                                    const StoreLocation& location) {
  if (!e.writeRefused()) throw;
  fail(op, "the database " + describe(location) +
               " cannot be written: a read-only user, or a server in read_only mode (" + e.what() +
               "). Herald must be able to INSERT, UPDATE and DELETE on its tables (and "
               "CREATE, ALTER and INDEX while it migrates them)");
}

}  // namespace

MariaDbStore::MariaDbStore(StoreLocation location) : location_(std::move(location)) {
  conn_ = std::make_unique<Connection>(location_);
  try {
    migrate(*conn_);
    // Found here, not at the first report: a store that cannot take writes must not
    // start (and answer ready) only to fail every report.
    checkWritable(*conn_, "open");
  } catch (const DbError& e) {
    rethrowUnwritable(e, "open", location_);
  }
}

MariaDbStore::~MariaDbStore() {
  if (inBatch_ && conn_) {
    try {
      conn_->exec("ROLLBACK", "close");
    } catch (...) {
      // Closing the connection rolls back as well.
    }
  }
}

template <class F>
auto MariaDbStore::run(std::string_view op, F&& f)
    -> decltype(f(std::declval<mariadb::Connection&>())) {
  for (int attempt = 0;; ++attempt) {
    if (batchLost_) {
      fail(op, "the open batch was rolled back by the server (deadlock or lost connection)");
    }
    if (!conn_) conn_ = std::make_unique<Connection>(location_);  // after a lost connection
    try {
      return f(*conn_);
    } catch (const DbError& e) {
      if (e.connectionLost()) {
        conn_.reset();
        if (inBatch_) batchLost_ = true;
        throw;
      }
      if (e.deadlock()) {
        // InnoDB rolled back the whole transaction: inside a batch that is the batch.
        if (inBatch_) {
          batchLost_ = true;
          batchConflict_ = true;
          throw;
        }
        if (attempt < kDeadlockRetries) continue;  // nothing of this call was written
      }
      throw;
    }
  }
}

void MariaDbStore::createJob(model::Job& job) {
  constexpr std::string_view op = "createJob";
  const auto previous = job.sequence;
  job.sequence = 1;
  try {
    run(op, [&](Connection& c) {
      const auto metadata = metadataText(job.metadata);
      Transaction tx(c, inBatch_, op);
      insertJob(c, job, metadata, op);
      insertEntry(c, model::snapshotOf(job), {model::MetadataKind::Full, metadata}, op);
      tx.commit();
    });
  } catch (...) {
    job.sequence = previous;
    throw;
  }
}

std::optional<model::Job> MariaDbStore::getJob(const std::string& id) {
  constexpr std::string_view op = "getJob";
  return run(op, [&](Connection& c) -> std::optional<model::Job> {
    auto rows = c.query(
        Sql(c, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?").arg(id).str(), op);
    if (!rows.next()) return std::nullopt;
    return readJob(rows, op);
  });
}

std::vector<model::Job> MariaDbStore::listJobs(const JobFilter& filter) {
  constexpr std::string_view op = "listJobs";
  return run(op, [&](Connection& c) {
    std::string where;
    const char* glue = " WHERE ";
    auto add = [&](const char* column, const std::string& value) {
      where.append(glue).append(column).append(" = '").append(c.escape(value)).append("'");
      glue = " AND ";
    };
    if (filter.status) add("status", std::string(model::toString(*filter.status)));
    if (filter.userId) add("user_id", *filter.userId);
    if (filter.videoId) add("video_id", *filter.videoId);
    if (filter.jobType) add("job_type", *filter.jobType);
    if (filter.afterId) {
      // The cursor's own position in the order below (NULL, so nothing, when unknown).
      where.append(glue)
          .append("(created_at, row_no) < (SELECT created_at, row_no FROM jobs WHERE id = '")
          .append(c.escape(*filter.afterId))
          .append("')");
    }
    // row_no breaks ties between jobs created in the same millisecond: later insert first.
    auto rows = c.query(std::string("SELECT ") + kJobColumns + " FROM jobs" + where +
                            " ORDER BY created_at DESC, row_no DESC LIMIT " +
                            std::to_string(std::clamp(filter.limit, 1, 1000)) + " OFFSET " +
                            std::to_string(std::max(filter.offset, 0)),
                        op);
    std::vector<model::Job> jobs;
    while (rows.next()) jobs.push_back(readJob(rows, op));
    return jobs;
  });
}

std::vector<QueueDepth> MariaDbStore::queueDepth() {
  constexpr std::string_view op = "queueDepth";
  return run(op, [&](Connection& c) {
    auto rows = c.query(
        "SELECT job_type, priority, COUNT(*) FROM jobs WHERE status = 'Pending' "
        "GROUP BY job_type, priority ORDER BY job_type, priority",
        op);
    std::vector<QueueDepth> out;
    while (rows.next()) out.push_back(QueueDepth{rows.text(0), rows.integer(1), rows.int64(2)});
    return out;
  });
}

std::vector<JobCount> MariaDbStore::countJobs() {
  constexpr std::string_view op = "countJobs";
  return run(op, [&](Connection& c) {
    auto rows = c.query(
        "SELECT status, job_type, priority, COUNT(*) FROM jobs "
        "GROUP BY status, job_type, priority",
        op);
    std::vector<JobCount> counts;
    while (rows.next()) {
      auto status = model::parseJobStatus(rows.text(0));
      if (!status) continue;  // a status this build does not know is nobody's queue
      counts.push_back(JobCount{*status, rows.text(1), rows.integer(2), rows.int64(3)});
    }
    return counts;
  });
}

void MariaDbStore::ping() {
  // Round trips to the server (reconnecting if the connection was lost): readiness asks
  // whether reports can be stored now, so the probe is a write that changes nothing on
  // every table (a user's privileges or the server's read_only can change while Herald
  // runs). 18 statements matching no row: about a millisecond on a local server. Row
  // locks are per job here, so unlike SQLite there is no store-wide write lock to probe.
  try {
    run("ping", [&](Connection& c) {
      checkWritable(c, "ping");
      return true;
    });
  } catch (const DbError& e) {
    rethrowUnwritable(e, "ping", location_);
  }
}

std::vector<model::ProgressEntry> MariaDbStore::progressHistory(const std::string& jobId,
                                                                std::int64_t afterSequence,
                                                                int limit) {
  constexpr std::string_view op = "progressHistory";
  return run(op, [&](Connection& c) {
    // History rows never change once written, so the metadata as of `afterSequence` and
    // the rows after it agree without a snapshot.
    auto metadata = metadataAt(c, jobId, afterSequence, op);
    Sql sql(c,
            "SELECT sequence, status, progress, current_stage, status_message, error_message, "
            "metadata, updated_at, metadata_kind FROM job_progress WHERE job_id = ? AND "
            "sequence > ? ORDER BY sequence ASC LIMIT ?");
    auto rows = c.query(
        sql.arg(jobId).arg(afterSequence).arg(std::clamp(limit, 1, kMaxHistoryPage)).str(), op);
    std::vector<model::ProgressEntry> entries;
    while (rows.next()) {
      model::ProgressEntry e;
      e.jobId = jobId;
      e.sequence = rows.int64(0);
      e.status = parseStatus(rows.text(1), op);
      e.progress = rows.real(2);
      e.currentStage = rows.text(3);
      e.statusMessage = rows.text(4);
      e.errorMessage = rows.optText(5);
      model::applyMetadata(metadata, model::metadataKindFrom(rows.int64(8)), rows.text(6));
      e.metadata = metadata;
      e.updatedAt = rows.int64(7);
      entries.push_back(std::move(e));
    }
    return entries;
  });
}

// ---------------------------------------------------------------------------------------
// Read-modify-writes
// ---------------------------------------------------------------------------------------

JobChange MariaDbStore::updateJob(const std::string& jobId, const JobMutator& mutate) {
  constexpr std::string_view op = "updateJob";
  return run(op, [&](Connection& c) {
    JobChange change;
    Transaction tx(c, inBatch_, op);
    // The row lock serialises this job's writers (other connections, other nodes) until
    // the commit: what the mutator sees is what is stored, and sequence + 1 is ours.
    auto rows =
        c.query(Sql(c, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ? FOR UPDATE")
                    .arg(jobId)
                    .str(),
                op);
    if (!rows.next()) return change;  // NotFound; the transaction just ends
    const model::Job stored = readJob(rows, op);
    model::Job job = stored;
    if (!mutate(job)) {
      change.outcome = JobChange::Outcome::Unchanged;
      change.job = stored;
      return change;
    }
    if (job.id != stored.id) fail(op, "the mutator changed the id of job '" + jobId + "'");
    job.sequence = stored.sequence + 1;
    const auto metadata = metadataText(job.metadata);
    updateJobRow(c, job, metadata, op);
    change.entry = model::snapshotOf(job);
    insertEntry(c, change.entry, historyRecord(c, stored, job, metadata, op), op);
    tx.commit();
    change.outcome = JobChange::Outcome::Updated;
    change.job = std::move(job);
    return change;
  });
}

std::optional<JobChange> MariaDbStore::claimNextJob(std::int64_t now, const ClaimFilter& filter,
                                                    const JobMutator& mutate) {
  constexpr std::string_view op = "claimNextJob";
  return run(op, [&](Connection& c) -> std::optional<JobChange> {
    std::string types;
    if (!filter.jobTypes.empty()) {
      types = " AND job_type IN (";
      for (std::size_t i = 0; i < filter.jobTypes.size(); ++i) {
        if (i) types += ", ";
        types += "'" + c.escape(filter.jobTypes[i]) + "'";
      }
      types += ")";
    }
    Transaction tx(c, inBatch_, op);
    // SKIP LOCKED: a job another node is claiming (or updating) right now is passed over
    // instead of waited for; the row lock then makes this claim ours alone. A job whose
    // holder's lease ran out goes first (it waited longest), then the queue.
    const std::string runner =
        filter.anyRunner ? std::string() : " AND runner = '" + c.escape(filter.runner) + "'";
    std::optional<model::Job> found;
    for (const char* runnable :
         {"status = 'Running' AND lease_expires_at > 0 AND lease_expires_at <= ?",
          "status = 'Pending' AND available_at <= ?"}) {
      std::string text = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE ";
      text.append(runnable).append(runner).append(types);
      text.append(" ORDER BY priority DESC, created_at, row_no LIMIT 1 FOR UPDATE SKIP LOCKED");
      Sql sql(c, text);
      auto rows = c.query(sql.arg(now).str(), op);
      if (rows.next()) {
        found = readJob(rows, op);
        break;
      }
    }
    if (!found) return std::nullopt;
    const model::Job stored = std::move(*found);
    JobChange change;
    model::Job job = stored;
    if (!mutate(job)) {
      change.outcome = JobChange::Outcome::Unchanged;
      change.job = stored;
      return change;
    }
    if (job.id != stored.id) fail(op, "the mutator changed the id of job '" + stored.id + "'");
    job.sequence = stored.sequence + 1;
    const auto metadata = metadataText(job.metadata);
    updateJobRow(c, job, metadata, op);
    change.entry = model::snapshotOf(job);
    insertEntry(c, change.entry, historyRecord(c, stored, job, metadata, op), op);
    tx.commit();
    change.outcome = JobChange::Outcome::Updated;
    change.job = std::move(job);
    return change;
  });
}

bool MariaDbStore::renewLease(const std::string& jobId, const std::string& token,
                              std::int64_t expiresAt) {
  constexpr std::string_view op = "renewLease";
  if (token.empty()) return false;
  return run(op, [&](Connection& c) {
    Transaction tx(c, inBatch_, op);
    // Read under the row lock rather than trusting the affected-row count, which is 0
    // when the expiry written equals the stored one.
    auto rows = c.query(Sql(c,
                            "SELECT id FROM jobs WHERE id = ? AND lease_token = ? AND "
                            "status = 'Running' FOR UPDATE")
                            .arg(jobId)
                            .arg(token)
                            .str(),
                        op);
    if (!rows.next()) return false;
    c.exec(
        Sql(c, "UPDATE jobs SET lease_expires_at = ? WHERE id = ?").arg(expiresAt).arg(jobId).str(),
        op);
    tx.commit();
    return true;
  });
}

std::optional<model::Video> MariaDbStore::updateVideo(
    const std::string& videoId, const std::function<bool(std::optional<model::Video>&)>& mutate) {
  constexpr std::string_view op = "updateVideo";
  return run(op, [&](Connection& c) -> std::optional<model::Video> {
    Transaction tx(c, inBatch_, op);
    // FOR UPDATE locks a stored video's row (and stages) until the commit. A video that
    // does not exist yet has no row to lock: two nodes creating the same video at once
    // both write it, the later one winning, as saveVideo would.
    auto stored = readVideo(c, videoId, true, op);
    auto video = stored;
    if (!mutate(video)) return stored;
    if (!video) {
      if (stored) fail(op, "deleting video '" + videoId + "' is not supported");
      return std::nullopt;
    }
    if (video->id.empty()) video->id = videoId;
    if (video->id != videoId) fail(op, "the mutator changed the id of video '" + videoId + "'");
    writeVideo(c, *video, op);
    tx.commit();
    return video;
  });
}

// ---------------------------------------------------------------------------------------
// Videos, transcripts, embeddings
// ---------------------------------------------------------------------------------------

void MariaDbStore::saveVideo(const model::Video& video) {
  constexpr std::string_view op = "saveVideo";
  run(op, [&](Connection& c) {
    Transaction tx(c, inBatch_, op);
    writeVideo(c, video, op);
    tx.commit();
  });
}

std::optional<model::Video> MariaDbStore::getVideo(const std::string& id) {
  constexpr std::string_view op = "getVideo";
  return run(op, [&](Connection& c) { return readVideo(c, id, false, op); });
}

void MariaDbStore::saveTranscript(const std::string& videoId,
                                  const std::vector<model::TranscriptSegment>& segments) {
  constexpr std::string_view op = "saveTranscript";
  run(op, [&](Connection& c) {
    Transaction tx(c, inBatch_, op);
    c.exec(Sql(c, "DELETE FROM transcript_segments WHERE video_id = ?").arg(videoId).str(), op);
    MultiInsert insert(
        c,
        "INSERT INTO transcript_segments (video_id, idx, start_seconds, end_seconds, text) VALUES ",
        op);
    for (std::size_t i = 0; i < segments.size(); ++i) {
      insert.add(Sql(c, "(?, ?, ?, ?, ?)")
                     .arg(videoId)
                     .arg(static_cast<std::int64_t>(i))
                     .arg(segments[i].start)
                     .arg(segments[i].end)
                     .arg(segments[i].text)
                     .str());
    }
    insert.flush();
    tx.commit();
  });
}

std::vector<model::TranscriptSegment> MariaDbStore::transcript(const std::string& videoId) {
  constexpr std::string_view op = "transcript";
  return run(op, [&](Connection& c) {
    auto rows = c.query(Sql(c,
                            "SELECT start_seconds, end_seconds, text FROM transcript_segments "
                            "WHERE video_id = ? ORDER BY idx")
                            .arg(videoId)
                            .str(),
                        op);
    std::vector<model::TranscriptSegment> out;
    while (rows.next()) out.push_back({rows.real(0), rows.real(1), rows.text(2)});
    return out;
  });
}

void MariaDbStore::saveEmbeddings(const std::string& videoId, const std::string& model,
                                  const std::vector<std::vector<float>>& vectors) {
  constexpr std::string_view op = "saveEmbeddings";
  run(op, [&](Connection& c) {
    Transaction tx(c, inBatch_, op);
    c.exec(Sql(c, "DELETE FROM embeddings WHERE video_id = ?").arg(videoId).str(), op);
    MultiInsert insert(
        c, "INSERT INTO embeddings (video_id, idx, model, dimension, vector) VALUES ", op);
    for (std::size_t i = 0; i < vectors.size(); ++i) {
      // Little-endian float32, the layout every vector store reads (as in SQLite).
      insert.add(Sql(c, "(?, ?, ?, ?, ?)")
                     .arg(videoId)
                     .arg(static_cast<std::int64_t>(i))
                     .arg(model)
                     .arg(static_cast<std::int64_t>(vectors[i].size()))
                     .bytes(std::string_view(reinterpret_cast<const char*>(vectors[i].data()),
                                             vectors[i].size() * sizeof(float)))
                     .str());
    }
    insert.flush();
    tx.commit();
  });
}

// ---------------------------------------------------------------------------------------
// Group commit
// ---------------------------------------------------------------------------------------

void MariaDbStore::beginBatch() {
  run("beginBatch", [&](Connection& c) { c.exec("START TRANSACTION", "beginBatch"); });
  inBatch_ = true;
  batchLost_ = false;
  batchConflict_ = false;
}

void MariaDbStore::commitBatch() {
  constexpr std::string_view op = "commitBatch";
  if (batchLost_) {
    inBatch_ = false;
    batchLost_ = false;
    if (batchConflict_) {
      // A deadlock: InnoDB rolled all of it back, so it is safe to run again. (A lost
      // connection is not: a COMMIT may have reached the server.)
      batchConflict_ = false;
      throw StoreConflict(
          "store commitBatch: the batch was rolled back by the server to "
          "resolve a deadlock with another connection; nothing was written");
    }
    fail(op, "the batch was rolled back by the server (deadlock or lost connection)");
  }
  try {
    run(op, [&](Connection& c) { c.exec("COMMIT", op); });
  } catch (...) {
    // A failed COMMIT: the transaction is gone (or its fate unknown with the connection).
    inBatch_ = false;
    batchLost_ = false;
    throw;
  }
  inBatch_ = false;
}

void MariaDbStore::rollbackBatch() {
  const bool wasLost = batchLost_;
  inBatch_ = false;
  batchLost_ = false;
  batchConflict_ = false;
  if (wasLost || !conn_) return;
  try {
    conn_->exec("ROLLBACK", "rollbackBatch");
  } catch (const DbError& e) {
    if (e.connectionLost()) conn_.reset();  // which rolled it back anyway
  }
}

}  // namespace herald::storage
