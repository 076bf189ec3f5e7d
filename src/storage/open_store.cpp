#include "storage/open_store.h"

#include <memory>

#include "storage/mariadb/mariadb_store.h"
#include "storage/sqlite/sqlite_store.h"

namespace herald::storage {

StorePtr openStore(const StoreLocation& location, const OpenOptions& options) {
  switch (location.kind) {
    case StoreLocation::Kind::Sqlite:
      return std::make_unique<SqliteStore>(location.sqlitePath, options.sqliteCheckpointPages,
                                           options.sqliteFullSync);
    case StoreLocation::Kind::MySql: return std::make_unique<MariaDbStore>(location);
  }
  throw StoreError("unknown store kind");
}

}  // namespace herald::storage
