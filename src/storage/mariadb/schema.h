#pragma once
// Versioned schema migrations for the MariaDB/MySQL store (schema.cpp).
namespace herald::storage::mariadb {

class Connection;

// The schema version this build writes.
int schemaVersion();

// Brings the database to schemaVersion(): under a named lock (GET_LOCK) so that several
// nodes starting at once migrate one after the other, each re-reading the version once it
// holds the lock. Throws StoreError when the database is newer than this build, or when
// the lock is not granted within 30 s.
void migrate(Connection& conn);

}  // namespace herald::storage::mariadb
