// What is particular to the MariaDB store: schema migration by several nodes at once,
// refusing a newer schema, and connection errors that name the server but never the
// password. The contract itself is tested for every backend (store_conformance_test.cpp,
// job_change_test.cpp, concurrent_writers_test.cpp).
#include <unistd.h>

#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/mariadb/connection.h"
#include "storage/mariadb/schema.h"
#include "storage/open_store.h"
#include "store_backends.h"

namespace herald::storage {
namespace {

using testing::Backend;
using testing::TestDatabase;

class MariaDbStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HERALD_SKIP_WITHOUT_BACKEND(Backend::MariaDb);
    db_ = std::make_unique<TestDatabase>(Backend::MariaDb);
  }
  std::unique_ptr<TestDatabase> db_;
};

// The error a failed open throws, or "" when it opened.
std::string openError(const StoreLocation& location) {
  try {
    openStore(location);
  } catch (const StoreError& e) {
    return e.what();
  }
  return "";
}

TEST_F(MariaDbStoreTest, NodesStartingAtOnceMigrateTheSchemaOnce) {
  constexpr int kNodes = 6;
  std::vector<std::string> errors(kNodes);
  {
    std::latch start(kNodes);
    std::vector<std::thread> nodes;
    for (int i = 0; i < kNodes; ++i) {
      nodes.emplace_back([&, i] {
        start.arrive_and_wait();
        try {
          auto store = db_->open();
          model::Job job;
          job.id = "node-" + std::to_string(i);
          job.jobType = "External";
          store->createJob(job);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      });
    }
    for (auto& n : nodes) n.join();
  }
  for (const auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(db_->count("schema_version"), mariadb::schemaVersion());
  EXPECT_EQ(db_->count("jobs"), kNodes);
  // Tables are InnoDB (row locks, transactions) and utf8mb4.
  EXPECT_EQ(db_->count("information_schema.tables WHERE table_schema = DATABASE() AND "
                       "table_name = 'jobs' AND engine = 'InnoDB' AND "
                       "table_collation = 'utf8mb4_bin'"),
            1);
}

// A node that died halfway through the lease migration (MariaDB's DDL is not
// transactional) left some of its columns and no record of it: the next start runs the
// migration again over what is there, adding only what is missing (found in
// information_schema: the check MySQL 8 also has, where ADD COLUMN IF NOT EXISTS is not).
TEST_F(MariaDbStoreTest, AMigrationInterruptedHalfwayCompletesAtTheNextStart) {
  db_->open();
  db_->exec("DROP INDEX jobs_leased ON jobs");
  db_->exec("ALTER TABLE jobs DROP COLUMN lease_ms, DROP COLUMN lease_expires_at");
  // Migrations after it had not run either (they come after it in order).
  db_->exec("DELETE FROM schema_version WHERE version >= 2");
  auto store = db_->open();
  EXPECT_EQ(db_->count("schema_version"), mariadb::schemaVersion());
  EXPECT_EQ(db_->count("information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                       "TABLE_NAME = 'jobs' AND COLUMN_NAME LIKE 'lease\\_%'"),
            4);
  EXPECT_EQ(db_->count("information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND "
                       "TABLE_NAME = 'jobs' AND INDEX_NAME = 'jobs_leased'"),
            2);  // one row per column of the index
  // The store works on the completed schema: a leased claim.
  model::Job job;
  job.id = "after-migration";
  job.jobType = "External";
  job.runner = "external";
  store->createJob(job);
  ClaimFilter filter;
  filter.anyRunner = true;
  auto claimed = store->claimNextJob(1, filter, [](model::Job& j) {
    j.status = model::JobStatus::Running;
    j.leaseToken = "t";
    j.leaseExpiresAt = 1000;
    j.leaseMillis = 999;
    return true;
  });
  ASSERT_TRUE(claimed);
  EXPECT_EQ(store->getJob("after-migration")->leaseMillis, 999);
}

TEST_F(MariaDbStoreTest, RefusesADatabaseWithANewerSchema) {
  db_->open();
  db_->exec("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)");
  auto error = openError(db_->location());
  EXPECT_NE(error.find("schema version 99 is newer than this build supports"), std::string::npos)
      << error;
}

TEST_F(MariaDbStoreTest, ConnectionErrorsNameTheServerButNeverThePassword) {
  auto location = db_->location();
  location.password = "wrong-secret-pw";
  auto error = openError(location);
  EXPECT_NE(error.find("cannot connect to MySQL/MariaDB " + location.user + "@" + location.host +
                       ":" + std::to_string(location.port)),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("Access denied"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong-secret-pw"), std::string::npos) << error;

  location = db_->location();
  location.port = 1;  // nothing listens there
  error = openError(location);
  EXPECT_NE(error.find("127.0.0.1:1/"), std::string::npos) << error;
  EXPECT_EQ(error.find(location.password), std::string::npos) << error;
}

TEST_F(MariaDbStoreTest, OptionsAreHonouredOrRefusedNeverIgnored) {
  auto location = db_->location();
  location.options = {{"pooling", "true"}, {"sslmode", "None"}, {"connectiontimeout", "5"}};
  EXPECT_EQ(openError(location), "");
  location.options = {{"sslmode", "sometimes"}};
  EXPECT_NE(openError(location).find("SslMode must be"), std::string::npos);
  location.options = {{"frobnicate", "yes"}};
  EXPECT_NE(openError(location).find("unsupported option 'frobnicate'"), std::string::npos);
  location.options = {{"charset", "latin1"}};
  EXPECT_NE(openError(location).find("charset must be utf8mb4"), std::string::npos);
}

// A user of the throwaway server with `privileges` on the test's database only (so no
// READ ONLY ADMIN: the server's read_only applies to it), dropped at the end.
class TestUser {
 public:
  TestUser(const StoreLocation& database, const std::string& privileges)
      : admin_(*testing::testMariaDb()), location_(database) {
    location_.user = "herald_u_" + std::to_string(::getpid()) + "_" + std::to_string(++serial_);
    location_.password = "pw-" + location_.user;
    for (const char* host : {"127.0.0.1", "localhost"}) {
      const std::string who = "'" + location_.user + "'@'" + host + "'";
      admin_.exec("CREATE USER " + who + " IDENTIFIED BY '" + location_.password + "'", "test");
      admin_.exec("GRANT " + privileges + " ON `" + database.database + "`.* TO " + who, "test");
    }
  }
  ~TestUser() {
    try {
      for (const char* host : {"127.0.0.1", "localhost"}) {
        admin_.exec("DROP USER IF EXISTS '" + location_.user + "'@'" + host + "'", "test");
      }
    } catch (...) {
      // A leftover user on a throwaway server is harmless.
    }
  }
  TestUser(const TestUser&) = delete;
  TestUser& operator=(const TestUser&) = delete;
  const StoreLocation& location() const { return location_; }

 private:
  static inline int serial_ = 0;
  mariadb::Connection admin_;
  StoreLocation location_;
};

// SET GLOBAL read_only for the guard's scope. The throwaway server's own user has every
// privilege (READ ONLY ADMIN included), so tests running meanwhile are not affected.
class ReadOnlyServer {
 public:
  ReadOnlyServer() : admin_(*testing::testMariaDb()) {
    admin_.exec("SET GLOBAL read_only = 1", "test");
  }
  ~ReadOnlyServer() {
    try {
      admin_.exec("SET GLOBAL read_only = 0", "test");
    } catch (...) {
    }
  }
  ReadOnlyServer(const ReadOnlyServer&) = delete;
  ReadOnlyServer& operator=(const ReadOnlyServer&) = delete;

 private:
  mariadb::Connection admin_;
};

// The SQLite store refuses a file it cannot write at open (sqlite_store.cpp); the MariaDB
// store the same for a user that may only read, before and after the schema exists.
TEST_F(MariaDbStoreTest, AReadOnlyUserIsRefusedAtOpenWithAClearMessage) {
  TestUser reader(db_->location(), "SELECT");
  auto error = openError(reader.location());  // no schema yet: its CREATE is refused
  EXPECT_NE(error.find("cannot be written: a read-only user, or a server in read_only mode"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find(reader.location().user + "@"), std::string::npos) << error;
  EXPECT_EQ(error.find(reader.location().password), std::string::npos) << error;
  db_->open();  // the schema, made by a user who may
  error = openError(reader.location());
  EXPECT_NE(error.find("cannot be written"), std::string::npos) << error;
  // May insert but not delete: still refused (every write the store makes is probed).
  TestUser noDelete(db_->location(), "SELECT, INSERT, UPDATE, CREATE, ALTER, INDEX");
  error = openError(noDelete.location());
  EXPECT_NE(error.find("cannot be written"), std::string::npos) << error;
  EXPECT_NE(error.find("DELETE command denied"), std::string::npos) << error;
  // With the privileges it needs, it opens.
  TestUser writer(db_->location(), "ALL PRIVILEGES");
  EXPECT_EQ(openError(writer.location()), "");
}

// A server switched to read_only: refused at open, and a store already open fails its
// readiness probe (GET /health answers 503) until the server is writable again.
TEST_F(MariaDbStoreTest, AServerInReadOnlyModeIsRefusedAtOpenAndFailsThePing) {
  db_->open();
  TestUser writer(db_->location(), "ALL PRIVILEGES");
  auto store = openStore(writer.location());
  store->ping();
  {
    ReadOnlyServer readOnly;
    auto error = openError(writer.location());
    EXPECT_NE(error.find("cannot be written"), std::string::npos) << error;
    EXPECT_NE(error.find("read-only"), std::string::npos) << error;
    try {
      store->ping();
      ADD_FAILURE() << "ping passed on a read-only server";
    } catch (const StoreError& e) {
      EXPECT_NE(std::string(e.what()).find("store ping: the database"), std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("cannot be written"), std::string::npos) << e.what();
    }
  }
  store->ping();
  model::Job job;
  job.id = "after-read-only";
  job.jobType = "External";
  store->createJob(job);
  EXPECT_EQ(db_->count("jobs"), 1);
}

TEST_F(MariaDbStoreTest, ANewConnectionAfterTheOldOneWasKilled) {
  auto store = db_->open();
  model::Job job;
  job.id = "job-1";
  job.jobType = "External";
  store->createJob(job);
  // Kill every other connection to this database: the store's.
  mariadb::Connection killer(db_->location());
  auto rows = killer.query(
      "SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND "
      "id <> CONNECTION_ID()",
      "test");
  std::vector<std::string> ids;
  while (rows.next()) ids.push_back(rows.text(0));
  ASSERT_FALSE(ids.empty());
  for (const auto& id : ids) killer.exec("KILL " + id, "test");
  // The call that finds the connection gone fails; the next one reconnects.
  try {
    store->getJob("job-1");
  } catch (const StoreError&) {
  }
  auto got = store->getJob("job-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->sequence, 1);
}

}  // namespace
}  // namespace herald::storage
