// The dashboard's server side without sockets: the summary's shape (queues ordered as the
// engine takes them), and the dashboard
// copy of a job change published only while someone watches.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "api/dashboard.h"
#include "api/hub_names.h"
#include "api/job_progress_events.h"
#include "jobs/job_events.h"

using namespace herald;
namespace json = boost::json;
using model::JobStatus;

namespace {

TEST(DashboardSummary, CountsByStatusAndQueuesByPriorityThenType) {
  std::vector<storage::JobCount> counts = {
      {JobStatus::Pending, "Transcription", 0, 4}, {JobStatus::Running, "Transcription", 0, 1},
      {JobStatus::Pending, "Embedding", 3, 2},     {JobStatus::Completed, "Transcription", 0, 7},
      {JobStatus::Failed, "Embedding", 3, 1},      {JobStatus::Completed, "Embedding", 3, 5},
  };
  auto s = api::dashboardSummary(counts, 0);
  EXPECT_EQ(json::value(s.at("byStatus")),
            json::parse(R"({"Pending":6,"Running":1,"Completed":12,"Failed":1,"Cancelled":0})"));
  EXPECT_EQ(json::value(s.at("queues")),
            json::parse(R"([{"jobType":"Embedding","priority":3,"pending":2,"running":0},
                            {"jobType":"Transcription","priority":0,"pending":4,"running":1}])"));
  EXPECT_EQ(s.at("total").as_int64(), 20);
  EXPECT_EQ(s.at("generatedAt").as_string(), "1970-01-01T00:00:00.000Z");
}

TEST(DashboardSummary, EmptyStore) {
  auto s = api::dashboardSummary({}, 0);
  EXPECT_TRUE(s.at("queues").as_array().empty());
  EXPECT_EQ(s.at("total").as_int64(), 0);
  EXPECT_EQ(s.at("byStatus").as_object().size(), 5u);
}

class RecordingBackplane final : public backplane::Backplane {
 public:
  void setLocalSink(backplane::LocalSink*) override {}
  void publish(backplane::Envelope e) override { published.push_back(std::move(e)); }
  void subscribe(const std::string&) override {}
  void unsubscribe(const std::string&) override {}
  std::vector<backplane::Envelope> published;
};

model::Job runningJob() {
  model::Job job;
  job.id = "job-1";
  job.jobType = "Transcription";
  job.status = JobStatus::Running;
  job.progress = 40;
  job.priority = 2;
  job.attempts = 1;
  job.sequence = 3;
  return job;
}

TEST(DashboardEvents, PublishedOnlyWhileSomeoneWatches) {
  RecordingBackplane backplane;
  api::JobProgressEvents events(backplane);
  bool watched = false;
  events.setDashboardInterest([&watched] { return watched; });
  auto job = runningJob();
  auto entry = model::snapshotOf(job);

  events.jobChanged(job, entry, false)();
  ASSERT_EQ(backplane.published.size(), 1u);
  EXPECT_EQ(backplane.published[0].event, api::names::kJobProgressUpdate);

  watched = true;
  backplane.published.clear();
  events.jobChanged(job, entry, true)();
  ASSERT_EQ(backplane.published.size(), 2u);
  const auto& d = backplane.published[1];
  EXPECT_EQ(d.event, api::names::kDashboardJobUpdate);
  EXPECT_EQ(d.target.name, api::names::kDashboardGroup);
  EXPECT_FALSE(d.ordering.has_value());
  auto payload = json::parse(d.argumentsJson).as_array().at(0).as_object();
  EXPECT_EQ(payload.at("jobId").as_string(), "job-1");
  EXPECT_EQ(payload.at("priority").as_int64(), 2);
  EXPECT_EQ(payload.at("attempts").as_int64(), 1);
  EXPECT_EQ(payload.at("sequence").as_int64(), 3);
  EXPECT_EQ(payload.at("statusChanged").as_bool(), true);

  // A job that ends: its outcome events and the dashboard's copy, once.
  job.status = JobStatus::Failed;
  job.errorMessage = "boom";
  job.userId = "u";
  backplane.published.clear();
  events.jobChanged(job, model::snapshotOf(job), true)();
  int dashboard = 0;
  for (const auto& e : backplane.published) dashboard += e.event == api::names::kDashboardJobUpdate;
  EXPECT_EQ(dashboard, 1);
  EXPECT_EQ(backplane.published.size(), 4u);  // update, JobFailed x2, dashboard
}

}  // namespace
