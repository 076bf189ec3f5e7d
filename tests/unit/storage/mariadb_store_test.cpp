// What is particular to the MariaDB store: schema migration by several nodes at once,
// refusing a newer schema, and connection errors that name the server but never the
// password. The contract itself is tested for every backend (store_conformance_test.cpp,
// job_change_test.cpp, concurrent_writers_test.cpp).
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
