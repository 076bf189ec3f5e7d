#pragma once
// The store conformance suite's backends: the same tests run against SQLite (a temporary
// file) and MariaDB (a fresh database on the server HERALD_TEST_MARIADB names; the test
// command starts a throwaway one, tools/mariadb.sh). Without HERALD_TEST_MARIADB the
// MariaDB cases are skipped with a message saying so.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "storage/store.h"
#include "storage/store_location.h"

namespace herald::storage::testing {

enum class Backend { Sqlite, MariaDb };
// For gtest's messages ("GetParam() = MariaDb").
inline void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::Sqlite ? "Sqlite" : "MariaDb");
}

// For INSTANTIATE_TEST_SUITE_P: Sqlite, MariaDb.
std::string backendName(const ::testing::TestParamInfo<Backend>& info);
inline auto allBackends() { return ::testing::Values(Backend::Sqlite, Backend::MariaDb); }

// The MariaDB server the tests use, or nullopt when HERALD_TEST_MARIADB is unset.
std::optional<StoreLocation> testMariaDb();
// The message a skipped MariaDB case prints.
extern const char* const kNoMariaDbMessage;

// One empty database for one test: a SQLite file in a temporary directory, or a MariaDB
// database created for it (both removed by the destructor).
class TestDatabase {
 public:
  explicit TestDatabase(Backend backend);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // A new Store object (a new connection) on this database.
  StorePtr open() const;
  // SELECT COUNT(*) FROM <from>, through a connection of the test's own.
  std::int64_t count(const std::string& from) const;
  // Runs SQL through a connection of the test's own, bypassing the store.
  void exec(const std::string& sql) const;
  const StoreLocation& location() const { return location_; }

 private:
  Backend backend_;
  std::filesystem::path dir_;  // SQLite
  StoreLocation location_;
};

// Skips the current test (from SetUp) when `backend` is MariaDB and no server is set.
#define HERALD_SKIP_WITHOUT_BACKEND(backend)                       \
  if ((backend) == ::herald::storage::testing::Backend::MariaDb && \
      !::herald::storage::testing::testMariaDb()) {                \
    GTEST_SKIP() << ::herald::storage::testing::kNoMariaDbMessage; \
  }

// A test on each backend with one fresh database and one Store open on it.
class StoreOnBackendTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    HERALD_SKIP_WITHOUT_BACKEND(GetParam());
    db_ = std::make_unique<TestDatabase>(GetParam());
    store_ = db_->open();
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  std::unique_ptr<TestDatabase> db_;
  StorePtr store_;
};

}  // namespace herald::storage::testing
