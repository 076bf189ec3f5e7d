#pragma once
// Versioned schema migrations for the MariaDB/MySQL store (schema.cpp).
#include <string_view>

namespace herald::storage::mariadb {

class Connection;

// The schema version this build writes.
int schemaVersion();

// Brings the database to schemaVersion(): under a named lock (GET_LOCK) so that several
// nodes starting at once migrate one after the other, each re-reading the version once it
// holds the lock. Throws StoreError when the database is newer than this build, or when
// the lock is not granted within 30 s.
void migrate(Connection& conn);

// Whether this connection may write every table the store writes: on each, an INSERT, an
// UPDATE and a DELETE that match no row, so nothing changes, yet the server checks the
// user's privileges and its read_only mode as for a real write. Throws DbError
// (writeRefused()) when one is refused. SQLite finds a read-only file at open the same
// way (sqlite3_db_readonly); without this a read-only user or server would start, answer
// Healthy and fail every report.
void checkWritable(Connection& conn, std::string_view op);

}  // namespace herald::storage::mariadb
