#include "storage/sqlite/open_store.h"

#include <memory>

#include "storage/sqlite/sqlite_store.h"

namespace herald::storage {

StorePtr openStore(const StoreLocation& location, const OpenOptions& options) {
  switch (location.kind) {
    case StoreLocation::Kind::Sqlite:
      return std::make_unique<SqliteStore>(location.sqlitePath, options.sqliteCheckpointPages);
    case StoreLocation::Kind::MySql:
      // No detail from `location`: the caller logs describe(location), without password.
      throw StoreError("MariaDB/MySQL store is not available in this build yet");
  }
  throw StoreError("unknown store kind");
}

}  // namespace herald::storage
