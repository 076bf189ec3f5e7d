// The statement cache and the RAII Statement/Transaction of statement.h.
//
// Prepared statements are cached per connection and reused: preparing (parsing and
// planning) costs more than running these one-row statements, and the progress path runs
// them for every update.
#include "storage/sqlite/statement.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace herald::storage::sqlite {

void fail(std::string_view op, std::string_view what) {
  std::string msg = "sqlite store: ";
  msg.append(op).append(": ").append(what);
  throw StoreError(msg);
}

void failDb(sqlite3* db, std::string_view op) { fail(op, sqlite3_errmsg(db)); }

// Runs SQL that returns no rows we care about (pragmas, DDL, transaction control).
void exec(sqlite3* db, const char* sql, std::string_view op) {
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string what = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    fail(op, what);
  }
}

// A cache entry belongs to its connection, so to one thread at a time; the mutex guards
// the maps' structure, shared by the stores of all threads.
struct CachedStatement {
  sqlite3_stmt* stmt = nullptr;
  bool inUse = false;
};

namespace {

std::mutex gCacheMutex;
std::unordered_map<sqlite3*, std::unordered_map<std::string, CachedStatement>> gCache;

// In front of the map, per thread: the entry last found for a given SQL text's address.
// Hashing the ~250-byte text and copying it into a key cost more than the rest of taking
// a statement, and nearly every statement is a literal with a fixed address. A hit is
// still checked against the statement's own text, since a temporary string may later
// hold other SQL at the same address; the generation drops every hit when any
// connection's cache is forgotten (its entries are then gone).
struct FrontEntry {
  sqlite3* db = nullptr;
  const char* sql = nullptr;
  std::size_t size = 0;
  std::uint64_t generation = 0;
  CachedStatement* entry = nullptr;
};
constexpr std::size_t kFrontSlots = 64;
thread_local std::array<FrontEntry, kFrontSlots> tFront;
std::atomic<std::uint64_t> gGeneration{1};

FrontEntry& frontSlot(std::string_view sql) {
  auto key = reinterpret_cast<std::uintptr_t>(sql.data()) ^ (sql.size() << 4);
  return tFront[(key >> 3) % kFrontSlots];
}

}  // namespace

void forgetCache(sqlite3* db) {
  std::lock_guard lock(gCacheMutex);
  gCache.erase(db);
  gGeneration.fetch_add(1);
  // Finalize everything still prepared on this connection (cached or not).
  while (sqlite3_stmt* stmt = sqlite3_next_stmt(db, nullptr)) sqlite3_finalize(stmt);
}

Statement::Statement(sqlite3* db, std::string_view sql, std::string_view op) : db_(db), op_(op) {
  // A connection is used by one thread at a time (NOMUTEX), so its entries' inUse flags
  // need no lock; the mutex guards the maps' structure only.
  auto& front = frontSlot(sql);
  if (front.db == db && front.sql == sql.data() && front.size == sql.size() &&
      front.generation == gGeneration.load() && !front.entry->inUse &&
      std::string_view(sqlite3_sql(front.entry->stmt)) == sql) {
    front.entry->inUse = true;
    cached_ = front.entry;
    stmt_ = front.entry->stmt;
    return;
  }
  {
    std::lock_guard lock(gCacheMutex);
    auto& entry = gCache[db][std::string(sql)];
    if (entry.stmt && !entry.inUse) {
      entry.inUse = true;
      cached_ = &entry;
      stmt_ = entry.stmt;
      front = {db, sql.data(), sql.size(), gGeneration.load(), &entry};
      return;
    }
    if (!entry.stmt) cached_ = &entry;
  }
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                         cached_ ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_, nullptr) != SQLITE_OK) {
    cached_ = nullptr;
    failDb(db, op);
  }
  if (cached_) {
    std::lock_guard lock(gCacheMutex);
    cached_->stmt = stmt_;
    cached_->inUse = true;
  }
}

Statement::~Statement() {
  if (cached_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    std::lock_guard lock(gCacheMutex);
    cached_->inUse = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

Transaction::Transaction(sqlite3* db, std::string_view op, const char* begin)
    : db_(db), op_(op), nested_(!sqlite3_get_autocommit(db)) {
  // Prepared (and cached) rather than sqlite3_exec'd: parsing these on every update
  // cost more than the update itself.
  Statement(db_, nested_ ? "SAVEPOINT herald_op" : begin, op_).run();
}

Transaction::~Transaction() {
  if (done_) return;
  if (nested_) {
    sqlite3_exec(db_, "ROLLBACK TO herald_op; RELEASE herald_op", nullptr, nullptr, nullptr);
    return;
  }
  // Some errors (SQLITE_FULL, IOERR) already rolled back; ROLLBACK would then fail.
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  Statement(db_, nested_ ? "RELEASE herald_op" : "COMMIT", op_).run();
  done_ = true;
}

}  // namespace herald::storage::sqlite
