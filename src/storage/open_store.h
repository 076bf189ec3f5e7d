#pragma once
// Opens the store a StoreLocation names. The one place that maps a location to an
// implementation (the server and tools call it; nothing else constructs a store).
// A library of its own (herald_storage_open), so that only what opens stores links both
// database clients.
#include "storage/store.h"
#include "storage/store_location.h"

namespace herald::storage {

struct OpenOptions {
  // SQLite: the WAL is copied back into the file every this many pages (1000 is SQLite's
  // own default; Server:SqliteCheckpointPages documents the trade-off).
  int sqliteCheckpointPages = 1000;
  // SQLite: fsync every commit (synchronous=FULL) instead of leaving it to checkpoints
  // (NORMAL): Storage:Durability, store.h's "Durability".
  bool sqliteFullSync = true;
};

// Throws StoreError when the store cannot be opened (for MariaDB/MySQL: the server cannot
// be reached, refuses the login, or an option is unsupported). Messages never contain the
// password.
StorePtr openStore(const StoreLocation& location, const OpenOptions& options = {});

}  // namespace herald::storage
