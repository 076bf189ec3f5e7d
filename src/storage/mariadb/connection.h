#pragma once
// One MariaDB/MySQL client connection (MariaDB Connector/C) for the store, and the SQL
// text builder its statements go through.
//
// Statements are sent as text with every value escaped by the connection
// (mysql_real_escape_string, which knows the connection's character set, utf8mb4, and
// its sql_mode, set here without NO_BACKSLASH_ESCAPES), or as a hex literal for bytes: so
// no value ever becomes SQL. The text protocol keeps the row mapping plain (every column
// a string or NULL) at the cost of parsing numbers, which is noise next to a round trip.
//
// Thread safety: a Connection is used by one thread at a time.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "storage/store.h"
#include "storage/store_location.h"

struct st_mysql;
struct st_mysql_res;

namespace herald::storage::mariadb {

// A failed statement: what the server said, with its error number so callers can tell a
// deadlock (the whole transaction was rolled back) or a lost connection from the rest.
class DbError : public StoreError {
 public:
  DbError(const std::string& what, unsigned code) : StoreError(what), code_(code) {}
  unsigned code() const { return code_; }
  // InnoDB chose this transaction as a deadlock victim and rolled all of it back.
  bool deadlock() const { return code_ == 1213; }
  // The connection is gone (server restarted, network); a new one is needed.
  bool connectionLost() const;
  // Nothing may be written: the user lacks the privilege, or the server (or InnoDB) is
  // read-only.
  bool writeRefused() const;

 private:
  unsigned code_;
};

[[noreturn]] void fail(std::string_view op, std::string_view what);

// A statement's result set, read whole (mysql_store_result). Column values are text
// exactly as the server sent them; NULL is nullopt.
class Rows {
 public:
  Rows() = default;
  explicit Rows(st_mysql_res* res);
  ~Rows();
  Rows(Rows&& other) noexcept;
  Rows& operator=(Rows&& other) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  // Moves to the next row; false when there is none.
  bool next();
  bool isNull(unsigned col) const { return row_ == nullptr || row_[col] == nullptr; }
  std::string text(unsigned col) const;
  std::optional<std::string> optText(unsigned col) const;
  std::int64_t int64(unsigned col) const;
  std::optional<std::int64_t> optInt64(unsigned col) const;
  int integer(unsigned col) const { return static_cast<int>(int64(col)); }
  double real(unsigned col) const;

 private:
  st_mysql_res* res_ = nullptr;
  char** row_ = nullptr;
  unsigned long* lengths_ = nullptr;
};

class Connection;

// SQL text with `?` placeholders filled in order by the arg() calls, each value quoted
// and escaped for `conn`. The templates here contain no literal '?'.
class Sql {
 public:
  // The text is copied: callers build it in temporaries.
  Sql(const Connection& conn, std::string text) : conn_(conn), text_(std::move(text)) {}
  Sql& arg(std::string_view text);
  Sql& arg(const char* text) { return arg(std::string_view(text)); }
  Sql& arg(const std::string& text) { return arg(std::string_view(text)); }
  Sql& arg(std::int64_t value);
  Sql& arg(int value) { return arg(static_cast<std::int64_t>(value)); }
  Sql& arg(double value);
  Sql& arg(const std::optional<std::string>& value);
  Sql& arg(const std::optional<std::int64_t>& value);
  Sql& bytes(std::string_view data);  // X'..' hex literal
  // The finished statement; throws if a placeholder was left unfilled or extra args came.
  std::string str() const;

 private:
  Sql& raw(std::string_view literal);

  const Connection& conn_;
  std::string text_;
  std::size_t pos_ = 0;  // how much of text_ is copied into out_
  std::string out_;
};

class Connection {
 public:
  // Connects to `location` (a MySql one), utf8mb4, UTC, strict SQL mode, READ COMMITTED.
  // Throws StoreError naming host and port (or socket), user and database, never the
  // password; unknown connection-string options are refused here too.
  explicit Connection(const StoreLocation& location);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs a statement that returns no rows; returns the affected row count.
  std::uint64_t exec(const std::string& sql, std::string_view op);
  // Runs a statement that returns rows.
  Rows query(const std::string& sql, std::string_view op);

  std::string escape(std::string_view text) const;

 private:
  [[noreturn]] void failDb(std::string_view op) const;
  void send(const std::string& sql, std::string_view op);

  st_mysql* db_ = nullptr;
};

}  // namespace herald::storage::mariadb
