#pragma once
// The SQLite schema: created on open and migrated forward, versioned with
// PRAGMA user_version.
struct sqlite3;

namespace herald::storage::sqlite {

// The schema version this build writes.
int schemaVersion();

// Brings the database to schemaVersion(). Safe when several connections or processes open
// one new file at once: the version is re-read under the write lock, so each migration
// runs once. Throws StoreError when the file was written by a newer build (its layout is
// unknown, and guessing could corrupt it).
void migrate(sqlite3* db);

}  // namespace herald::storage::sqlite
