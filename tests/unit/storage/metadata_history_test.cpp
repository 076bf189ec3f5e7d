// Progress history and metadata (model/metadata_history.h), on every backend: each entry
// still reads back with the metadata the job had at that update, from any page, while the
// history stores metadata once per change instead of a copy in every row (the attack run
// once turned 119 KB of reports into 906 MB of history that way). And one read returns at
// most a page (1,000 entries), however large the limit asked for.
#include <map>
#include <string>

#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include "store_backends.h"

namespace herald::storage {
namespace {

namespace json = boost::json;
using model::Job;
using model::JobStatus;

class MetadataHistoryTest : public testing::StoreOnBackendTest {
 protected:
  Job create(const std::string& id, json::object metadata) {
    Job job;
    job.id = id;
    job.jobType = "External";
    job.createdAt = job.updatedAt = 1'700'000'000'000;
    job.metadata = std::move(metadata);
    store_->createJob(job);
    expected_[1] = job.metadata;
    return job;
  }
  // One update; `change` edits the metadata (or leaves it).
  void update(const std::string& id, int i, const std::function<void(json::object&)>& change) {
    auto result = store_->updateJob(id, [&](Job& j) {
      j.status = JobStatus::Running;
      j.progress = i % 100;
      j.updatedAt += 1;
      change(j.metadata);
      return true;
    });
    ASSERT_EQ(result.outcome, JobChange::Outcome::Updated);
    expected_[result.job.sequence] = result.job.metadata;
    EXPECT_EQ(result.entry.metadata, result.job.metadata);
  }
  // Reads the whole history from every starting point in pages of `page` and compares each
  // entry's metadata with what the job held at that sequence.
  void expectHistory(const std::string& id, int page) {
    const auto last = static_cast<std::int64_t>(expected_.size());
    for (std::int64_t start = 0; start < last; start += 5) {
      std::int64_t after = start;
      while (after < last) {
        auto entries = store_->progressHistory(id, after, page);
        ASSERT_FALSE(entries.empty()) << "after " << after;
        for (const auto& e : entries) {
          ASSERT_EQ(e.sequence, after + 1);
          EXPECT_EQ(e.metadata, expected_.at(e.sequence))
              << "sequence " << e.sequence << " read after " << start;
          after = e.sequence;
        }
      }
    }
  }
  std::map<std::int64_t, json::object> expected_;
};

std::string blob(std::size_t n, char c) { return std::string(n, c); }

TEST_P(MetadataHistoryTest, ReportsThatKeepTheMetadataDoNotCopyItIntoEveryRow) {
  create("job-1", {{"blob", blob(4000, 'x')}, {"source", "worker-7"}});
  for (int i = 1; i <= 200; ++i) {
    update("job-1", i, [&](json::object& md) {
      if (i % 50 == 0) md["step"] = i;             // a small change: a patch
      if (i == 120) md.erase("source");            // a key removed: a full copy
      if (i == 160) md["blob"] = blob(4000, 'y');  // most of it changed: a full copy
    });
  }
  expectHistory("job-1", 7);
  expectHistory("job-1", 1000);
  // The creation's copy, the removal's and the rewrite's; nothing else holds the blob.
  EXPECT_EQ(db_->count("job_progress WHERE LENGTH(metadata) > 1000"), 3);
  EXPECT_EQ(db_->count("job_progress"), 201);
}

TEST_P(MetadataHistoryTest, ManySmallChangesAreStoredAsPatchesWithAFullCopyNowAndThen) {
  // Each report changes one small key of a 2 KB metadata: a patch each, and a full copy
  // whenever the patches since the last one add up to more than the metadata (so reading
  // an entry never walks more than about twice the metadata).
  create("job-2", {{"base", blob(2000, 'b')}});
  for (int i = 1; i <= 300; ++i) {
    update("job-2", i,
           [&](json::object& md) { md["counter"] = std::to_string(i) + blob(80, 'c'); });
  }
  expectHistory("job-2", 13);
  const auto fulls = db_->count("job_progress WHERE LENGTH(metadata) > 1000");
  // About 100 bytes per patch, 2 KB per copy: one copy per ~20 patches, plus creation.
  EXPECT_GE(fulls, 300 / 25);
  EXPECT_LE(fulls, 300 / 15 + 1);
}

TEST_P(MetadataHistoryTest, OneReadReturnsAtMostAThousandEntries) {
  create("job-3", {{"k", "v"}});
  for (int i = 1; i <= 1100; ++i) update("job-3", i, [](json::object&) {});
  auto first = store_->progressHistory("job-3", 0, 100000);
  ASSERT_EQ(first.size(), 1000u);
  EXPECT_EQ(first.back().sequence, 1000);
  auto rest = store_->progressHistory("job-3", first.back().sequence, 100000);
  ASSERT_EQ(rest.size(), 101u);
  EXPECT_EQ(rest.back().sequence, 1101);
  EXPECT_EQ(rest.back().metadata, (json::object{{"k", "v"}}));
}

INSTANTIATE_TEST_SUITE_P(Backends, MetadataHistoryTest, testing::allBackends(),
                         testing::backendName);

}  // namespace
}  // namespace herald::storage
