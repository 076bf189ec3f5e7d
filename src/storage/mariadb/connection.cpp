// Connection: MariaDB Connector/C, text protocol, values escaped by the connection.
#include "storage/mariadb/connection.h"

#include <errmsg.h>
#include <mysql.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <set>

namespace herald::storage::mariadb {

bool DbError::connectionLost() const {
  return code_ == CR_SERVER_GONE_ERROR || code_ == CR_SERVER_LOST || code_ == CR_CONNECTION_ERROR ||
         code_ == CR_CONN_HOST_ERROR || code_ == 1927 /* ER_CONNECTION_KILLED */ ||
         code_ == 4031 /* idle timeout */;
}

bool DbError::writeRefused() const {
  switch (code_) {
    case 1044:  // ER_DBACCESS_DENIED_ERROR
    case 1142:  // ER_TABLEACCESS_DENIED_ERROR (e.g. "UPDATE command denied")
    case 1143:  // ER_COLUMNACCESS_DENIED_ERROR
    case 1227:  // ER_SPECIFIC_ACCESS_DENIED_ERROR
    case 1036:  // ER_OPEN_AS_READONLY
    case 1290:  // ER_OPTION_PREVENTS_STATEMENT (--read-only)
    case 1792:  // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    case 1836:  // ER_READ_ONLY_MODE (MySQL)
    case 1874:  // ER_INNODB_READ_ONLY
      return true;
    default: return false;
  }
}

void fail(std::string_view op, std::string_view what) {
  throw StoreError("store " + std::string(op) + ": " + std::string(what));
}

// ---------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------

Rows::Rows(st_mysql_res* res) : res_(res) {}
Rows::~Rows() {
  if (res_) mysql_free_result(res_);
}
Rows::Rows(Rows&& other) noexcept
    : res_(std::exchange(other.res_, nullptr)),
      row_(std::exchange(other.row_, nullptr)),
      lengths_(std::exchange(other.lengths_, nullptr)) {}
Rows& Rows::operator=(Rows&& other) noexcept {
  if (this != &other) {
    if (res_) mysql_free_result(res_);
    res_ = std::exchange(other.res_, nullptr);
    row_ = std::exchange(other.row_, nullptr);
    lengths_ = std::exchange(other.lengths_, nullptr);
  }
  return *this;
}

bool Rows::next() {
  if (!res_) return false;
  row_ = mysql_fetch_row(res_);
  lengths_ = row_ ? mysql_fetch_lengths(res_) : nullptr;
  return row_ != nullptr;
}

std::string Rows::text(unsigned col) const {
  if (isNull(col)) return {};
  // Lengths, not strlen: text may hold NUL bytes, and bytes columns always may.
  return {row_[col], static_cast<std::size_t>(lengths_[col])};
}

std::optional<std::string> Rows::optText(unsigned col) const {
  if (isNull(col)) return std::nullopt;
  return text(col);
}

std::int64_t Rows::int64(unsigned col) const {
  if (isNull(col)) return 0;
  std::int64_t value = 0;
  const char* begin = row_[col];
  auto [end, ec] = std::from_chars(begin, begin + lengths_[col], value);
  if (ec != std::errc()) fail("read", "column " + std::to_string(col) + " is not an integer");
  return value;
}

std::optional<std::int64_t> Rows::optInt64(unsigned col) const {
  if (isNull(col)) return std::nullopt;
  return int64(col);
}

double Rows::real(unsigned col) const {
  if (isNull(col)) return 0;
  // The server prints a DOUBLE with enough digits to read back the same value.
  std::string text(row_[col], lengths_[col]);
  return std::strtod(text.c_str(), nullptr);
}

// ---------------------------------------------------------------------------------------
// Sql
// ---------------------------------------------------------------------------------------

Sql& Sql::raw(std::string_view literal) {
  auto q = text_.find('?', pos_);
  if (q == std::string::npos) fail("sql", "more values than placeholders");
  out_.append(text_, pos_, q - pos_);
  out_.append(literal);
  pos_ = q + 1;
  return *this;
}

Sql& Sql::arg(std::string_view text) { return raw("'" + conn_.escape(text) + "'"); }

Sql& Sql::arg(std::int64_t value) { return raw(std::to_string(value)); }

Sql& Sql::arg(double value) {
  // NULL for NaN and infinities, which SQL has no literal for (the NOT NULL columns
  // then refuse them, as SQLite does).
  if (!std::isfinite(value)) return raw("NULL");
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);  // shortest exact form
  std::string literal(buf, end);
  // A bare integer literal would be DECIMAL/BIGINT in expressions; make it a double.
  if (literal.find_first_of(".e") == std::string::npos) literal += "e0";
  return raw(literal);
}

Sql& Sql::arg(const std::optional<std::string>& value) {
  return value ? arg(std::string_view(*value)) : raw("NULL");
}

Sql& Sql::arg(const std::optional<std::int64_t>& value) {
  return value ? arg(*value) : raw("NULL");
}

Sql& Sql::bytes(std::string_view data) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string literal;
  literal.reserve(data.size() * 2 + 3);
  literal += "X'";
  for (unsigned char c : data) {
    literal += kHex[c >> 4];
    literal += kHex[c & 15];
  }
  literal += '\'';
  return raw(literal);
}

std::string Sql::str() const {
  if (text_.find('?', pos_) != std::string::npos) fail("sql", "unfilled placeholder");
  return out_ + text_.substr(pos_);
}

// ---------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------

namespace {

// MySqlConnector's client-side knobs that mean nothing to a store holding one connection
// per Store object: accepted (users copy them from the original's appsettings.json) and
// without effect. Every other option is refused rather than silently ignored.
const std::set<std::string, std::less<>> kIgnoredOptions = {
    "pooling",
    "minimumpoolsize",
    "minpoolsize",
    "maximumpoolsize",
    "maxpoolsize",
    "connectionreset",
    "connectionlifetime",
    "allowuservariables",
    "convertzerodatetime",
    "allowpublickeyretrieval",
    "defaultcommandtimeout",
    "commandtimeout",
    "treattinyasboolean",
    "oldguids",
    "useaffectedrows",
};

void applyOptions(MYSQL* db, const StoreLocation& location) {
  unsigned timeout = 10;  // seconds to connect: a dead host fails the start soon
  for (const auto& [key, value] : location.options) {
    if (key == "sslmode") {
      std::string mode;
      for (char c : value) mode += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      my_bool on = 1;
      if (mode == "none" || mode == "disabled" || mode == "preferred") {
        // The connector's default: no TLS unless the server asks (preferred as "maybe").
      } else if (mode == "required") {
        mysql_optionsv(db, MYSQL_OPT_SSL_ENFORCE, &on);
      } else if (mode == "verifyca" || mode == "verifyfull") {
        mysql_optionsv(db, MYSQL_OPT_SSL_ENFORCE, &on);
        mysql_optionsv(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
      } else {
        fail("open",
             "connection string: SslMode must be None, Preferred, Required, VerifyCA "
             "or VerifyFull");
      }
    } else if (key == "connectiontimeout" || key == "connecttimeout") {
      int seconds = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec != std::errc() || end != value.data() + value.size() || seconds < 1) {
        fail("open", "connection string: " + key + " must be a number of seconds");
      }
      timeout = static_cast<unsigned>(seconds);
    } else if (key == "characterset" || key == "charset") {
      if (value != "utf8mb4") fail("open", "connection string: " + key + " must be utf8mb4");
    } else if (!kIgnoredOptions.contains(key)) {
      fail("open", "connection string: unsupported option '" + key + "'");
    }
  }
  mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  // A server that stops answering mid-statement (a network cut) fails the call within a
  // minute instead of holding the store thread for good.
  unsigned ioTimeout = 60;
  mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &ioTimeout);
  mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &ioTimeout);
  mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
}

}  // namespace

Connection::Connection(const StoreLocation& location) {
  // mysql_library_init is not thread-safe; mysql_init calls it when nobody has.
  static std::once_flag libraryInit;
  std::call_once(libraryInit, [] { mysql_library_init(0, nullptr, nullptr); });
  db_ = mysql_init(nullptr);
  if (!db_) fail("open", "out of memory");
  try {
    applyOptions(db_, location);
    const char* host = location.socket.empty() ? location.host.c_str() : nullptr;
    const char* socket = location.socket.empty() ? nullptr : location.socket.c_str();
    if (!mysql_real_connect(db_, host, location.user.c_str(), location.password.c_str(),
                            location.database.c_str(),
                            static_cast<unsigned>(location.socket.empty() ? location.port : 0),
                            socket, CLIENT_FOUND_ROWS)) {
      // describe() names user, host and port (or socket) and database; the connector's
      // message never contains the password.
      throw DbError("cannot connect to " + describe(location) + ": " + mysql_error(db_),
                    mysql_errno(db_));
    }
    // Strict: a value that does not fit is an error, never silently truncated. UTC, so
    // nothing depends on the server's zone (times are stored as epoch milliseconds
    // anyway). READ COMMITTED: reads see the latest commits (the contract's "reads see
    // committed data"), and locking reads take no gap locks, so two nodes claiming jobs
    // do not block each other on ranges. A lock held past 10 s is an error rather than a
    // store thread hung for the InnoDB default of 50.
    exec(
        "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION', "
        "time_zone = '+00:00', innodb_lock_wait_timeout = 10",
        "open");
    exec("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "open");
  } catch (...) {
    mysql_close(db_);
    db_ = nullptr;
    throw;
  }
}

Connection::~Connection() {
  if (db_) mysql_close(db_);
}

void Connection::failDb(std::string_view op) const {
  throw DbError("store " + std::string(op) + ": " + mysql_error(db_), mysql_errno(db_));
}

std::string Connection::escape(std::string_view text) const {
  std::string out(text.size() * 2 + 1, '\0');
  auto n = mysql_real_escape_string(db_, out.data(), text.data(),
                                    static_cast<unsigned long>(text.size()));
  out.resize(n);
  return out;
}

void Connection::send(const std::string& sql, std::string_view op) {
  if (mysql_real_query(db_, sql.data(), static_cast<unsigned long>(sql.size())) != 0) failDb(op);
}

std::uint64_t Connection::exec(const std::string& sql, std::string_view op) {
  send(sql, op);
  // A statement with a result (SELECT GET_LOCK) run through exec: read and drop it.
  if (MYSQL_RES* res = mysql_store_result(db_)) mysql_free_result(res);
  if (mysql_errno(db_) != 0) failDb(op);
  return mysql_affected_rows(db_);
}

Rows Connection::query(const std::string& sql, std::string_view op) {
  send(sql, op);
  MYSQL_RES* res = mysql_store_result(db_);
  if (!res && mysql_errno(db_) != 0) failDb(op);
  return Rows(res);
}

}  // namespace herald::storage::mariadb
