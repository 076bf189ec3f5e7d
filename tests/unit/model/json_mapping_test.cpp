// The progress event and the job resource exist twice: as boost::json objects (the
// general path) and as text written directly (the hot path of every report). Both must
// give the same bytes for every job.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include <boost/json/parse.hpp>
#include "core/json_text.h"

#include "model/json_mapping.h"

namespace model = herald::model;
namespace json = boost::json;

namespace {

std::string randomText(std::mt19937& rng) {
  // Whole characters, so the text stays valid UTF-8 (checked by parsing it back).
  static const std::vector<std::string> pieces = {
      "a", "b", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f", "é", "✓", "🎬"};
  std::string s;
  for (std::size_t n = rng() % 12; n > 0; --n) s += pieces[rng() % pieces.size()];
  return s;
}

model::Job randomJob(std::mt19937& rng) {
  model::Job job;
  job.id = "job-" + std::to_string(rng());
  job.videoId = rng() % 2 ? randomText(rng) : "";
  job.userId = rng() % 2 ? randomText(rng) : "";
  job.jobType = rng() % 2 ? "Transcription" : randomText(rng);
  job.status = static_cast<model::JobStatus>(rng() % 5);
  job.progress = (rng() % 3 == 0) ? static_cast<double>(rng() % 101) : (rng() % 1001) / 10.0;
  job.currentStage = randomText(rng);
  job.statusMessage = randomText(rng);
  if (rng() % 2) job.errorMessage = randomText(rng);
  if (rng() % 2) {
    job.metadata["step"] = static_cast<std::int64_t>(rng() % 100);
    job.metadata[randomText(rng)] = randomText(rng);
    job.metadata["nested"] = json::object{{"a", json::array{1, 2.5, nullptr, true}}};
  }
  job.priority = static_cast<int>(rng() % 4);
  job.attempts = static_cast<int>(rng() % 4);
  job.maxAttempts = 3;
  job.createdAt = 1795701139123 + static_cast<std::int64_t>(rng() % 1000000);
  job.updatedAt = job.createdAt + static_cast<std::int64_t>(rng() % 1000000);
  if (rng() % 2) job.startedAt = job.createdAt + 5;
  if (rng() % 2) job.completedAt = job.updatedAt;
  job.sequence = static_cast<std::int64_t>(rng() % 100000);
  return job;
}

}  // namespace

TEST(JsonMapping, DirectTextEqualsTheSerialisedObjects) {
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    auto job = randomJob(rng);
    ASSERT_EQ(model::jobResourceJson(job), herald::core::toJson(model::jobResource(job)));

    auto entry = model::snapshotOf(job);
    entry.progress = (rng() % 1001) / 10.0;  // a historical entry differs from the job
    entry.currentStage = randomText(rng);
    std::string text = "[";
    model::appendJobProgressUpdateJson(text, job, entry);
    ASSERT_EQ(text.substr(1), herald::core::toJson(model::jobProgressUpdate(job, entry)));
    ASSERT_TRUE(json::parse(text + "]").is_array());
  }
}

TEST(JsonMapping, ResourceTextHasTheDocumentedShape) {
  model::Job job;
  job.id = "j1";
  job.jobType = "Transcription";
  job.status = model::JobStatus::Running;
  job.progress = 42.5;
  job.createdAt = 0;
  job.updatedAt = 1000;
  job.sequence = 7;
  auto v = json::parse(model::jobResourceJson(job)).as_object();
  EXPECT_EQ(v.at("jobId"), "j1");
  EXPECT_TRUE(v.at("videoId").is_null());
  EXPECT_EQ(v.at("status"), "Running");
  EXPECT_EQ(v.at("progress").as_double(), 42.5);
  EXPECT_EQ(v.at("updatedAt"), "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(v.at("sequence"), 7);
  EXPECT_TRUE(v.at("startedAt").is_null());
  EXPECT_EQ(v.size(), 18u);
}
