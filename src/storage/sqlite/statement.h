#pragma once
// RAII wrappers over the SQLite C API for the store: Statement (a prepared statement taken
// from the connection's statement cache), Transaction (BEGIN IMMEDIATE, or a SAVEPOINT
// inside an open batch) and the error helpers every SQLite file here uses.
//
// Thread safety: a connection (sqlite3*) and everything taken from it belongs to one
// thread at a time (the store opens it NOMUTEX); the cache maps are shared by all
// connections of the process and guarded by a mutex.
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "storage/store.h"

namespace herald::storage::sqlite {

[[noreturn]] void fail(std::string_view op, std::string_view what);
[[noreturn]] void failDb(sqlite3* db, std::string_view op);

// Runs SQL that returns no rows we care about (pragmas, DDL, transaction control).
void exec(sqlite3* db, const char* sql, std::string_view op);

struct CachedStatement;

// Finalizes every statement of `db` and drops its cache entries; call before closing it.
void forgetCache(sqlite3* db);

// One prepared statement, taken from the connection's cache (or prepared for this use
// when the cached one is busy). Bind indexes are 1-based, column indexes 0-based, as in
// the C API. Text is bound SQLITE_TRANSIENT so callers may pass temporaries.
class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql, std::string_view op);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int i, std::string_view text) {
    check(sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  // Text that outlives the statement's run (a field of an object the caller holds): bound
  // in place, not copied (SQLITE_STATIC); the destructor clears the bindings. For the
  // per-report statements, whose text binds otherwise cost a malloc and a copy each.
  void bindInPlace(int i, std::string_view text) {
    check(sqlite3_bind_text64(stmt_, i, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  void bindInPlace(int i, const std::string& text) { bindInPlace(i, std::string_view(text)); }
  void bindInPlace(int i, const std::optional<std::string>& text) {
    if (text)
      bindInPlace(i, std::string_view(*text));
    else
      check(sqlite3_bind_null(stmt_, i));
  }
  void bind(int i, const char* text) { bind(i, std::string_view(text)); }
  void bind(int i, const std::string& text) { bind(i, std::string_view(text)); }
  void bind(int i, std::int64_t value) { check(sqlite3_bind_int64(stmt_, i, value)); }
  void bind(int i, int value) { check(sqlite3_bind_int(stmt_, i, value)); }
  void bind(int i, double value) { check(sqlite3_bind_double(stmt_, i, value)); }
  void bindBlob(int i, const std::string& bytes) {
    check(sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()),
                            SQLITE_TRANSIENT));
  }
  template <typename T>
  void bind(int i, const std::optional<T>& value) {
    if (value) {
      bind(i, *value);
    } else {
      check(sqlite3_bind_null(stmt_, i));
    }
  }

  // True when a row is available, false when the statement has finished.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    failDb(db_, op_);
  }
  // Runs a statement that returns no rows.
  void run() {
    while (step()) {
    }
  }
  // Makes the statement runnable again; bindings stay until rebound.
  void reset() { sqlite3_reset(stmt_); }

  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    // Length from column_bytes, not strlen, so embedded NULs survive the round trip.
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::optional<std::string> optText(int col) const {
    if (isNull(col)) return std::nullopt;
    return text(col);
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  // The size of a text or blob column, without copying it.
  std::size_t bytes(int col) const {
    return static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col));
  }
  std::optional<std::int64_t> optInt64(int col) const {
    if (isNull(col)) return std::nullopt;
    return int64(col);
  }
  int integer(int col) const { return sqlite3_column_int(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) failDb(db_, op_);
  }

  sqlite3* db_;
  std::string_view op_;
  sqlite3_stmt* stmt_ = nullptr;
  CachedStatement* cached_ = nullptr;  // points into gCache (node-stable map)
};

// Scoped transaction: rolls back unless commit() succeeded.
// Inside an open batch (beginBatch) it is a SAVEPOINT, so one failed operation rolls
// back alone and the batch goes on.
class Transaction {
 public:
  Transaction(sqlite3* db, std::string_view op, const char* begin = "BEGIN IMMEDIATE");
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open; the destructor
  // then rolls it back.
  void commit();
  // True when this is a savepoint inside an enclosing (batch) transaction.
  bool nested() const { return nested_; }

 private:
  sqlite3* db_;
  std::string_view op_;
  bool nested_;
  bool done_ = false;
};

}  // namespace herald::storage::sqlite
