// Schema migrations. kMigrations[i] takes the schema from version i to i + 1; a later
// change is one more entry, and an applied entry is never edited.
//
// MariaDB commits every DDL statement on its own (no transactional DDL), so a migration
// cannot be all-or-nothing the way SQLite's are. Instead each step is idempotent: a node
// that died halfway through a migration leaves the version unrecorded, and the next start
// runs the whole migration again over what is there. Steps use only what MySQL 8 also
// understands: CREATE TABLE IF NOT EXISTS, and a column or index is added after
// information_schema says it is missing (MariaDB's ADD COLUMN IF NOT EXISTS and CREATE
// INDEX IF NOT EXISTS are not MySQL's).
// Concurrency comes from a named lock, which the server holds for the session, per
// database (its name includes DATABASE(), so tests with one database each do not wait
// for one another).
//
// Tables: InnoDB (row locks, transactions), utf8mb4 with a binary collation (ids and
// text compare byte for byte, as in SQLite). Times are epoch milliseconds (BIGINT).
#include "storage/mariadb/schema.h"

#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/mariadb/connection.h"

namespace herald::storage::mariadb {
namespace {

constexpr const char* kTableOptions = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

// One idempotent step: `sql` runs unless `table` already has `column` (an ADD COLUMN) or
// `index` (a CREATE INDEX); with neither named it must be idempotent itself.
struct Step {
  Step(std::string statement) : sql(std::move(statement)) {}  // NOLINT: a plain statement
  Step(std::string statement, std::string onTable, std::string addsColumn,
       std::string addsIndex = {})
      : sql(std::move(statement)),
        table(std::move(onTable)),
        column(std::move(addsColumn)),
        index(std::move(addsIndex)) {}
  std::string sql;
  std::string table;
  std::string column;
  std::string index;
};

struct Migration {
  std::vector<Step> statements;
};

Step addColumn(const char* table, const char* column, const char* definition) {
  return {std::string("ALTER TABLE ") + table + " ADD COLUMN " + column + " " + definition, table,
          column};
}

Step addIndex(const char* table, const char* index, const char* columns) {
  return {std::string("CREATE INDEX ") + index + " ON " + table + " " + columns, table, {}, index};
}

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      // 1: jobs and their history, videos and their stages, transcripts, embeddings.
      // (SQLite's migrations 1 and 2 in one: this store starts at that schema.)
      {{
          std::string(R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id             VARCHAR(255) NOT NULL PRIMARY KEY,
  video_id       VARCHAR(255) NOT NULL DEFAULT '',
  user_id        VARCHAR(255) NOT NULL DEFAULT '',
  job_type       VARCHAR(255) NOT NULL,
  status         VARCHAR(32) NOT NULL,
  progress       DOUBLE NOT NULL DEFAULT 0,
  current_stage  TEXT NOT NULL,
  status_message MEDIUMTEXT NOT NULL,
  error_message  MEDIUMTEXT NULL,
  metadata       LONGTEXT NOT NULL,
  priority       INT NOT NULL DEFAULT 0,
  attempts       INT NOT NULL DEFAULT 0,
  max_attempts   INT NOT NULL DEFAULT 3,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  started_at     BIGINT NULL,
  completed_at   BIGINT NULL,
  sequence       BIGINT NOT NULL,
  available_at   BIGINT NOT NULL DEFAULT 0,
  runner         VARCHAR(255) NOT NULL DEFAULT '',
  -- Insertion order, to break ties between jobs created in the same millisecond (SQLite's
  -- rowid).
  row_no         BIGINT NOT NULL AUTO_INCREMENT,
  UNIQUE KEY jobs_row_no (row_no),
  KEY jobs_by_status (status, priority, created_at),
  KEY jobs_by_user (user_id),
  KEY jobs_by_video (video_id),
  KEY jobs_by_created (created_at),
  KEY jobs_runnable (status, runner, priority, created_at, available_at)
))sql") + kTableOptions,
          std::string(R"sql(
CREATE TABLE IF NOT EXISTS job_progress (
  job_id         VARCHAR(255) NOT NULL,
  sequence       BIGINT NOT NULL,
  status         VARCHAR(32) NOT NULL,
  progress       DOUBLE NOT NULL DEFAULT 0,
  current_stage  TEXT NOT NULL,
  status_message MEDIUMTEXT NOT NULL,
  error_message  MEDIUMTEXT NULL,
  metadata       LONGTEXT NOT NULL,
  updated_at     BIGINT NOT NULL,
  PRIMARY KEY (job_id, sequence),
  CONSTRAINT job_progress_job FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE
))sql") + kTableOptions,
          std::string(R"sql(
CREATE TABLE IF NOT EXISTS videos (
  id                   VARCHAR(255) NOT NULL PRIMARY KEY,
  user_id              VARCHAR(255) NOT NULL DEFAULT '',
  url                  TEXT NOT NULL,
  title                TEXT NOT NULL,
  duration_seconds     DOUBLE NOT NULL DEFAULT 0,
  processing_status    VARCHAR(32) NOT NULL,
  transcription_status VARCHAR(32) NOT NULL,
  embedding_status     VARCHAR(32) NOT NULL,
  overall_progress     DOUBLE NOT NULL DEFAULT 0,
  created_at           BIGINT NOT NULL,
  updated_at           BIGINT NOT NULL
))sql") + kTableOptions,
          std::string(R"sql(
CREATE TABLE IF NOT EXISTS video_stages (
  video_id      VARCHAR(255) NOT NULL,
  ordinal       INT NOT NULL,
  name          VARCHAR(255) NOT NULL,
  status        VARCHAR(32) NOT NULL,
  progress      DOUBLE NOT NULL DEFAULT 0,
  started_at    BIGINT NULL,
  completed_at  BIGINT NULL,
  error_message MEDIUMTEXT NULL,
  PRIMARY KEY (video_id, ordinal),
  CONSTRAINT video_stages_video FOREIGN KEY (video_id) REFERENCES videos (id) ON DELETE CASCADE
))sql") + kTableOptions,
          std::string(R"sql(
CREATE TABLE IF NOT EXISTS transcript_segments (
  video_id      VARCHAR(255) NOT NULL,
  idx           BIGINT NOT NULL,
  start_seconds DOUBLE NOT NULL,
  end_seconds   DOUBLE NOT NULL,
  text          MEDIUMTEXT NOT NULL,
  PRIMARY KEY (video_id, idx)
))sql") + kTableOptions,
          std::string(R"sql(
CREATE TABLE IF NOT EXISTS embeddings (
  video_id  VARCHAR(255) NOT NULL,
  idx       BIGINT NOT NULL,
  model     VARCHAR(255) NOT NULL,
  dimension INT NOT NULL,
  vector    LONGBLOB NOT NULL,
  PRIMARY KEY (video_id, idx)
))sql") + kTableOptions,
      }},
      // 2: leases of claimed jobs (owner, token, expiry, renewal length).
      {{
          addColumn("jobs", "lease_owner", "VARCHAR(255) NOT NULL DEFAULT ''"),
          addColumn("jobs", "lease_token", "VARCHAR(64) NOT NULL DEFAULT ''"),
          addColumn("jobs", "lease_expires_at", "BIGINT NOT NULL DEFAULT 0"),
          addColumn("jobs", "lease_ms", "BIGINT NOT NULL DEFAULT 0"),
          addIndex("jobs", "jobs_leased", "(status, lease_expires_at)"),
      }},
      // 3: history rows record metadata once per change (model/metadata_history.h): a
      // kind (0 same as the row before, 1 full, 2 patch); rows written before are full
      // copies. The index finds a row's last full copy and the patches after it.
      {{
          addColumn("job_progress", "metadata_kind", "TINYINT NOT NULL DEFAULT 1"),
          addIndex("job_progress", "job_progress_metadata", "(job_id, metadata_kind, sequence)"),
      }},
  };
  return list;
}

// Whether this database's `table` has `column` / `index` already (a step that ran before
// its migration was recorded).
bool alreadyThere(Connection& conn, const Step& step, std::string_view op) {
  if (step.table.empty()) return false;
  const auto sql =
      step.column.empty()
          ? Sql(conn,
                "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
                "DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?")
                .arg(step.table)
                .arg(step.index)
                .str()
          : Sql(conn,
                "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                "DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?")
                .arg(step.table)
                .arg(step.column)
                .str();
  auto rows = conn.query(sql, op);
  return rows.next() && rows.int64(0) > 0;
}

int readVersion(Connection& conn, std::string_view op) {
  auto rows = conn.query("SELECT COALESCE(MAX(version), 0) FROM schema_version", op);
  return rows.next() ? rows.integer(0) : 0;
}

void refuseNewer(int version, std::string_view op) {
  if (version > schemaVersion()) {
    // Written by a newer Herald; guessing at its layout could corrupt it.
    fail(op, "database schema version " + std::to_string(version) +
                 " is newer than this build supports (" + std::to_string(schemaVersion()) + ")");
  }
}

// Holds the named lock for its scope.
class SchemaLock {
 public:
  SchemaLock(Connection& conn, std::string_view op) : conn_(conn), op_(op) {
    auto rows =
        conn_.query("SELECT GET_LOCK(CONCAT('herald_schema.', COALESCE(DATABASE(), '')), 30)", op_);
    if (!rows.next() || rows.isNull(0) || rows.int64(0) != 1) {
      fail(op_, "another node held the schema lock for 30 s (migrating?); try again");
    }
  }
  ~SchemaLock() {
    try {
      conn_.exec("DO RELEASE_LOCK(CONCAT('herald_schema.', COALESCE(DATABASE(), '')))", op_);
    } catch (...) {
      // The lock goes with the session anyway: closing the connection releases it.
    }
  }
  SchemaLock(const SchemaLock&) = delete;
  SchemaLock& operator=(const SchemaLock&) = delete;

 private:
  Connection& conn_;
  std::string_view op_;
};

}  // namespace

void checkWritable(Connection& conn, std::string_view op) {
  // Each table with a column to "update" to itself. WHERE 1 = 0 matches nothing; the
  // privilege and read_only checks come before the rows are looked at.
  static constexpr std::pair<const char*, const char*> kTables[] = {
      {"jobs", "id"},
      {"job_progress", "job_id"},
      {"videos", "id"},
      {"video_stages", "video_id"},
      {"transcript_segments", "video_id"},
      {"embeddings", "video_id"},
  };
  for (const auto& [table, column] : kTables) {
    std::string insert = "INSERT INTO ";
    insert.append(table).append(" SELECT * FROM ").append(table).append(" WHERE 1 = 0");
    conn.exec(insert, op);
    std::string update = "UPDATE ";
    update.append(table).append(" SET ").append(column).append(" = ").append(column);
    conn.exec(update.append(" WHERE 1 = 0"), op);
    std::string remove = "DELETE FROM ";
    conn.exec(remove.append(table).append(" WHERE 1 = 0"), op);
  }
}

int schemaVersion() { return static_cast<int>(migrations().size()); }

void migrate(Connection& conn) {
  constexpr std::string_view op = "open (schema)";
  conn.exec(std::string("CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL "
                        "PRIMARY KEY, applied_at BIGINT NOT NULL)") +
                kTableOptions,
            op);
  // The common case (up to date) takes no lock.
  int version = readVersion(conn, op);
  refuseNewer(version, op);
  if (version == schemaVersion()) return;
  SchemaLock lock(conn, op);
  // Another node may have migrated while we waited for the lock.
  version = readVersion(conn, op);
  refuseNewer(version, op);
  for (; version < schemaVersion(); ++version) {
    for (const auto& step : migrations()[static_cast<std::size_t>(version)].statements) {
      if (!alreadyThere(conn, step, op)) conn.exec(step.sql, op);
    }
    conn.exec("INSERT INTO schema_version (version, applied_at) VALUES (" +
                  std::to_string(version + 1) + ", UNIX_TIMESTAMP(NOW(3)) * 1000)",
              op);
  }
}

}  // namespace herald::storage::mariadb
