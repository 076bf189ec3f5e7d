#pragma once
// Where the store lives, parsed from ConnectionStrings:Default. Pure: no I/O, no logging.
//
// Accepted forms (keys case-insensitive, whitespace around keys and values ignored):
//   (empty)                                   SQLite at <dataDir>/herald.db
//   data/herald.db, /var/lib/h.db, :memory:   SQLite, the path as given
//   sqlite:<path>                             SQLite
//   Data Source=<path>  (or DataSource=, Filename=)            SQLite
//   Server=h;Port=3306;Database=d;User=u;Password=p            MySQL/MariaDB (MySqlConnector
//       style; Host= for Server, Uid=/User Id=/Username= for User, Pwd= for Password; a
//       Server that starts with '/' or Protocol=Unix means a Unix socket; values may be
//       quoted with " or ', a doubled quote inside being one quote)
//   mysql://user:pass@host:port/db?opt=v      (or mariadb://; user and password
//       percent-decoded; host may be [ipv6]; the query becomes options)
// Anything else throws StoreLocationError. Error messages never quote values (a value
// may be a password), only key names and positions.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::storage {

class StoreLocationError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct StoreLocation {
  enum class Kind { Sqlite, MySql };
  Kind kind = Kind::Sqlite;

  // Sqlite
  std::string sqlitePath;  // a file path or ":memory:"

  // MySql
  std::string host;    // empty when `socket` is set
  int port = 3306;     // MySQL's default port
  std::string socket;  // Unix socket path, or empty
  std::string database;
  std::string user;
  std::string password;  // never log it: use describe()
  // Other keys (lower-cased key, value), for the MySQL store to honour or refuse; kept
  // rather than dropped so that e.g. SslMode=Required is never silently ignored.
  std::vector<std::pair<std::string, std::string>> options;
};

// Throws StoreLocationError on a string that is none of the forms above.
StoreLocation parseConnectionString(std::string_view cs, std::string_view dataDir);

// For logs and error messages: "SQLite at <path>", "MySQL u@host:port/db"; no password.
std::string describe(const StoreLocation& location);

}  // namespace herald::storage
