// Mapping between model records and their rows: jobs, history entries, videos.
#include "storage/sqlite/rows.h"

#include <system_error>
#include <utility>

#include <boost/json/parse.hpp>
#include "core/json_text.h"
#include <boost/json/value.hpp>

namespace herald::storage::sqlite {

namespace json = boost::json;

std::string metadataText(const json::object& metadata) { return herald::core::toJson(metadata); }

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
const char* const kJobColumns =
    "id, video_id, user_id, job_type, status, progress, current_stage, status_message, "
    "error_message, metadata, priority, attempts, max_attempts, created_at, updated_at, "
    "started_at, completed_at, sequence, available_at, runner, lease_owner, lease_token, "
    "lease_expires_at, lease_ms";

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
  st.bind(21, job.leaseOwner);
  st.bind(22, job.leaseToken);
  st.bind(23, job.leaseExpiresAt);
  st.bind(24, job.leaseMillis);
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
  job.leaseOwner = st.text(20);
  job.leaseToken = st.text(21);
  job.leaseExpiresAt = st.int64(22);
  job.leaseMillis = st.int64(23);
  return job;
}

void insertJob(sqlite3* db, const model::Job& job, std::string_view op) {
  Statement st(db,
               std::string("INSERT INTO jobs (") + kJobColumns +
                   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                   "?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
               op);
  bindJob(st, job);
  st.run();
}

void updateJobRow(sqlite3* db, const model::Job& job, std::string_view op) {
  Statement st(db,
               "UPDATE jobs SET video_id = ?2, user_id = ?3, job_type = ?4, status = ?5, "
               "progress = ?6, current_stage = ?7, status_message = ?8, error_message = ?9, "
               "metadata = ?10, priority = ?11, attempts = ?12, max_attempts = ?13, "
               "created_at = ?14, updated_at = ?15, started_at = ?16, completed_at = ?17, "
               "sequence = ?18, available_at = ?19, runner = ?20, lease_owner = ?21, "
               "lease_token = ?22, lease_expires_at = ?23, lease_ms = ?24 WHERE id = ?1",
               op);
  bindJob(st, job);
  st.run();
}

// Writes only what a progress update can change. Leaving the identity columns (video,
// user, type, priority, creation time, runner) out of the SET keeps SQLite from rewriting
// the indexes built on them at every update; with `withStatus` false, status and
// available_at stay out too (the common report that keeps the status then leaves the
// status and runnable indexes alone). The lease columns are always written: a report
// renews the lease. `metadata` is the job's metadata serialised (the
// history entry written beside it stores the same text).
void updateJobProgress(sqlite3* db, const model::Job& job, const std::string& metadata,
                       bool withStatus, std::string_view op) {
  Statement st(db,
               withStatus
                   ? "UPDATE jobs SET progress = ?2, current_stage = ?3, status_message = ?4, "
                     "error_message = ?5, metadata = ?6, attempts = ?7, updated_at = ?8, "
                     "started_at = ?9, completed_at = ?10, sequence = ?11, status = ?12, "
                     "available_at = ?13, lease_owner = ?14, lease_token = ?15, "
                     "lease_expires_at = ?16, lease_ms = ?17 WHERE id = ?1"
                   : "UPDATE jobs SET progress = ?2, current_stage = ?3, status_message = ?4, "
                     "error_message = ?5, metadata = ?6, attempts = ?7, updated_at = ?8, "
                     "started_at = ?9, completed_at = ?10, sequence = ?11, lease_owner = ?14, "
                     "lease_token = ?15, lease_expires_at = ?16, lease_ms = ?17 WHERE id = ?1",
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
  st.bindInPlace(14, job.leaseOwner);
  st.bindInPlace(15, job.leaseToken);
  st.bind(16, job.leaseExpiresAt);
  st.bind(17, job.leaseMillis);
  if (withStatus) {
    st.bind(12, model::toString(job.status));
    st.bind(13, job.availableAt);
  }
  st.run();
}

void insertEntry(sqlite3* db, const model::ProgressEntry& e, const model::MetadataRecord& metadata,
                 std::string_view op) {
  Statement st(db,
               "INSERT INTO job_progress (job_id, sequence, status, progress, current_stage, "
               "status_message, error_message, metadata, updated_at, metadata_kind) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
               op);
  st.bind(10, static_cast<int>(metadata.kind));
  st.bindInPlace(1, e.jobId);
  st.bind(2, e.sequence);
  st.bindInPlace(3, model::toString(e.status));
  st.bind(4, e.progress);
  st.bindInPlace(5, e.currentStage);
  st.bindInPlace(6, e.statusMessage);
  st.bindInPlace(7, e.errorMessage);
  st.bindInPlace(8, metadata.text);
  st.bind(9, e.updatedAt);
  st.run();
}

std::size_t patchBytesSinceFull(sqlite3* db, const std::string& jobId, std::string_view op) {
  // Both parts are ranges of the job_progress_metadata index.
  Statement st(db,
               "SELECT COALESCE(SUM(LENGTH(CAST(metadata AS BLOB))), 0) FROM job_progress "
               "WHERE job_id = ?1 AND metadata_kind = 2 AND sequence > (SELECT "
               "COALESCE(MAX(sequence), 0) FROM job_progress WHERE job_id = ?1 AND "
               "metadata_kind = 1)",
               op);
  st.bind(1, jobId);
  return st.step() ? static_cast<std::size_t>(st.int64(0)) : 0;
}

json::object metadataAt(sqlite3* db, const std::string& jobId, std::int64_t sequence,
                        std::string_view op) {
  json::object state;
  if (sequence <= 0) return state;
  // The last full copy at or before `sequence` and the patches after it, in order, in one
  // statement: the subquery and both kinds' ranges are ranges of the job_progress_metadata
  // index (rows that repeat the metadata, kind 0, are never read).
  Statement st(db,
               "SELECT metadata_kind, metadata FROM job_progress WHERE job_id = ?1 AND "
               "metadata_kind IN (1, 2) AND sequence <= ?2 AND sequence >= (SELECT "
               "COALESCE(MAX(sequence), 0) FROM job_progress WHERE job_id = ?1 AND "
               "metadata_kind = 1 AND sequence <= ?2) ORDER BY sequence",
               op);
  st.bind(1, jobId);
  st.bind(2, sequence);
  while (st.step()) model::applyMetadata(state, model::metadataKindFrom(st.int64(0)), st.text(1));
  return state;
}

std::optional<model::Video> readVideo(sqlite3* db, const std::string& id, std::string_view op) {
  model::Video video;
  {
    Statement st(db,
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
    Statement st(db,
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
  return video;
}

void writeVideo(sqlite3* db, const model::Video& video, std::string_view op) {
  {
    // An upsert rather than INSERT OR REPLACE: REPLACE deletes the old row first, which
    // with foreign keys on would cascade into video_stages behind our back. The effect on
    // the row is the same: every column takes the new value.
    Statement st(db,
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
    Statement st(db, "DELETE FROM video_stages WHERE video_id = ?1", op);
    st.bind(1, video.id);
    st.run();
  }
  if (!video.stages.empty()) {
    Statement st(db,
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
}

}  // namespace herald::storage::sqlite
