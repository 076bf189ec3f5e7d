#pragma once
// Row mapping for the SQLite store: how jobs, history entries and videos are bound to and
// read from their tables. Every function runs inside the caller's transaction.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "model/job.h"
#include "model/metadata_history.h"
#include "model/video.h"
#include "storage/sqlite/statement.h"

namespace herald::storage::sqlite {

// Column order shared by INSERT, UPDATE and SELECT on jobs; bindJob/readJob follow it.
extern const char* const kJobColumns;

std::string metadataText(const boost::json::object& metadata);
// Corrupt or non-object metadata must not make the whole job unreadable: it reads as {}.
boost::json::object parseMetadata(const std::string& text);
model::JobStatus parseStatus(const std::string& text, std::string_view op);

void bindJob(Statement& st, const model::Job& job);
// Reads a row selected with kJobColumns (in that order, from column 0).
model::Job readJob(const Statement& st, std::string_view op);

void insertJob(sqlite3* db, const model::Job& job, std::string_view op);
// Writes every column.
void updateJobRow(sqlite3* db, const model::Job& job, std::string_view op);
// Writes only what a progress update can change (see rows.cpp).
void updateJobProgress(sqlite3* db, const model::Job& job, const std::string& metadata,
                       bool withStatus, std::string_view op);
// `metadata`: what the entry records of the job's metadata (model/metadata_history.h).
void insertEntry(sqlite3* db, const model::ProgressEntry& e, const model::MetadataRecord& metadata,
                 std::string_view op);
// Bytes of the job's Patch history rows since its last Full one.
std::size_t patchBytesSinceFull(sqlite3* db, const std::string& jobId, std::string_view op);
// The job's metadata as of history row `sequence` (empty for 0).
boost::json::object metadataAt(sqlite3* db, const std::string& jobId, std::int64_t sequence,
                               std::string_view op);

std::optional<model::Video> readVideo(sqlite3* db, const std::string& id, std::string_view op);
// Inserts or replaces the video row and all its stages.
void writeVideo(sqlite3* db, const model::Video& video, std::string_view op);

}  // namespace herald::storage::sqlite
