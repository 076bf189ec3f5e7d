#pragma once
// Opens the store a StoreLocation names. The one place that maps a location to an
// implementation (the server and tools call it; nothing else constructs a store).
// TODO(store): move to a factory library of its own when the MySQL store arrives, so a
// build without HERALD_WITH_MYSQL still links without it.
#include "storage/store.h"
#include "storage/store_location.h"

namespace herald::storage {

struct OpenOptions {
  // SQLite: the WAL is copied back into the file every this many pages (1000 is SQLite's
  // own default; Server:SqliteCheckpointPages documents the trade-off).
  int sqliteCheckpointPages = 1000;
};

// Throws StoreError when the store cannot be opened, and for a MySql location (not
// available in this build yet). Messages never contain the password.
StorePtr openStore(const StoreLocation& location, const OpenOptions& options = {});

}  // namespace herald::storage
