#include "store_backends.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <stdexcept>

#include "storage/mariadb/connection.h"
#include "storage/open_store.h"

namespace herald::storage::testing {

namespace fs = std::filesystem;

const char* const kNoMariaDbMessage =
    "HERALD_TEST_MARIADB is not set, so the MariaDB cases are skipped (tools/test.sh sets it; "
    "by hand: eval \"$(tools/mariadb.sh start)\")";

std::string backendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::Sqlite ? "Sqlite" : "MariaDb";
}

std::optional<StoreLocation> testMariaDb() {
  const char* cs = std::getenv("HERALD_TEST_MARIADB");
  if (!cs || !*cs) return std::nullopt;
  auto location = parseConnectionString(cs, "");
  if (location.kind != StoreLocation::Kind::MySql) {
    throw std::runtime_error("HERALD_TEST_MARIADB is not a MariaDB connection string");
  }
  return location;
}

namespace {

std::string uniqueSuffix() {
  static std::atomic<int> counter{0};
  return std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(std::random_device{}() % 100000);
}

}  // namespace

TestDatabase::TestDatabase(Backend backend) : backend_(backend) {
  if (backend_ == Backend::Sqlite) {
    dir_ = fs::temp_directory_path() / ("herald_store_" + uniqueSuffix());
    fs::create_directories(dir_);
    location_.kind = StoreLocation::Kind::Sqlite;
    location_.sqlitePath = (dir_ / "herald.db").string();
    return;
  }
  auto server = testMariaDb();
  if (!server) throw std::runtime_error(kNoMariaDbMessage);
  location_ = *server;
  // A database of its own per test: tests may run in parallel (ctest -j) on one server.
  location_.database = "herald_t_" + uniqueSuffix();
  mariadb::Connection admin(*server);
  admin.exec(
      "CREATE DATABASE `" + location_.database + "` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
      "test setup");
}

TestDatabase::~TestDatabase() {
  try {
    if (backend_ == Backend::Sqlite) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    } else {
      mariadb::Connection admin(*testMariaDb());
      admin.exec("DROP DATABASE IF EXISTS `" + location_.database + "`", "test teardown");
    }
  } catch (...) {
    // A leftover test database on a throwaway server is harmless.
  }
}

StorePtr TestDatabase::open() const { return openStore(location_); }

std::int64_t TestDatabase::count(const std::string& from) const {
  const std::string sql = "SELECT COUNT(*) FROM " + from;
  if (backend_ == Backend::MariaDb) {
    mariadb::Connection c(location_);
    auto rows = c.query(sql, "test count");
    return rows.next() ? rows.int64(0) : -1;
  }
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open(location_.sqlitePath.c_str(), &db) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

void TestDatabase::exec(const std::string& sql) const {
  if (backend_ == Backend::MariaDb) {
    mariadb::Connection c(location_);
    c.exec(sql, "test exec");
    return;
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open(location_.sqlitePath.c_str(), &db);
  char* err = nullptr;
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string what = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("sqlite: " + what);
}

}  // namespace herald::storage::testing
