// Schema migrations. kMigrations[i] upgrades user_version i to i + 1, so a later schema
// change is one more entry in that list; an applied entry is never edited.
#include "storage/sqlite/schema.h"

#include <iterator>
#include <string>
#include <string_view>

#include "storage/sqlite/statement.h"

namespace herald::storage::sqlite {
namespace {

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
    // 3: leases of claimed jobs (owner, token, expiry, renewal length).
    R"sql(
ALTER TABLE jobs ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_token TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS jobs_leased ON jobs (status, lease_expires_at);
)sql",
    // 4: history rows record metadata once per change (model/metadata_history.h): a kind
    // (0 same as the row before, 1 full, 2 patch). Rows written before are full copies.
    // The index finds a row's last full copy and the patches after it.
    R"sql(
ALTER TABLE job_progress ADD COLUMN metadata_kind INTEGER NOT NULL DEFAULT 1;
CREATE INDEX IF NOT EXISTS job_progress_metadata ON job_progress (job_id, metadata_kind, sequence);
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

int readVersion(sqlite3* db, std::string_view op) {
  Statement st(db, "PRAGMA user_version", op);
  return st.step() ? st.integer(0) : 0;
}

void refuseNewer(int version, std::string_view op) {
  if (version > kSchemaVersion) {
    // Written by a newer Herald; guessing at its layout could corrupt it.
    fail(op, "database schema version " + std::to_string(version) +
                 " is newer than this build supports (" + std::to_string(kSchemaVersion) + ")");
  }
}

}  // namespace

int schemaVersion() { return kSchemaVersion; }

void migrate(sqlite3* db) {
  constexpr std::string_view op = "open (schema)";
  // The common case (up to date) takes no write lock.
  int version = readVersion(db, op);
  refuseNewer(version, op);
  if (version == kSchemaVersion) return;
  // One write transaction for all steps, the version re-read inside it: another process
  // opening the same new file may have migrated it while we waited for the lock.
  Transaction tx(db, op);
  version = readVersion(db, op);
  refuseNewer(version, op);
  for (; version < kSchemaVersion; ++version) {
    exec(db, kMigrations[version], op);
  }
  // user_version lives in the file header and is transactional: it moves with the DDL.
  exec(db, ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str(), op);
  tx.commit();
}

}  // namespace herald::storage::sqlite
