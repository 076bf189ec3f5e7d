// The progress service over several lanes (a pool of store connections, each with a
// thread of its own), on SQLite (a file) and MariaDB: a job's reports are stored and
// announced in the order they were made, however many lanes; the lanes really run at
// once (a lane blocked on a slow call does not hold up another job's report); a job only
// known by its id finds its video's lane.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <future>
#include <set>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "../storage/store_backends.h"
#include "jobs/progress_service.h"

using namespace herald;
using namespace std::chrono_literals;
using storage::testing::Backend;

namespace {

namespace asio = boost::asio;

// What was announced, per job, in delivery order (deliveries come from every lane).
class RecordingEvents final : public jobs::JobEvents {
 public:
  jobs::Delivery jobChanged(const model::Job& job, const model::ProgressEntry& entry,
                            bool) override {
    return [this, id = job.id, seq = entry.sequence, progress = job.progress] {
      std::lock_guard lock(mutex);
      byJob[id].emplace_back(seq, progress);
    };
  }
  jobs::Delivery videoChanged(const model::Video&, jobs::VideoTransition) override { return {}; }
  std::mutex mutex;
  std::map<std::string, std::vector<std::pair<std::int64_t, double>>> byJob;
};

// N lanes on one database, each a Store and a thread running its own io_context.
class Lanes {
 public:
  Lanes(const storage::testing::TestDatabase& db, int n) {
    for (int i = 0; i < n; ++i) {
      stores_.push_back(db.open());
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*contexts_.back()));
      lanes.push_back({*stores_.back(), contexts_.back()->get_executor()});
    }
    for (auto& c : contexts_) threads_.emplace_back([&c] { c->run(); });
  }
  ~Lanes() {
    guards_.clear();
    for (auto& t : threads_) t.join();
  }
  Lanes(const Lanes&) = delete;
  Lanes& operator=(const Lanes&) = delete;
  std::vector<jobs::StoreLane> lanes;

 private:
  std::vector<storage::StorePtr> stores_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

// Runs a coroutine to completion on a caller context of its own (the test's "I/O thread").
template <class T>
T await(asio::awaitable<T> a) {
  asio::io_context io;
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) out.emplace(std::move(v));
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

class StoreLanesTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    HERALD_SKIP_WITHOUT_BACKEND(GetParam());
    db_ = std::make_unique<storage::testing::TestDatabase>(GetParam());
  }
  model::Job create(jobs::ProgressService& service, std::string videoId = {}) {
    jobs::NewJob spec;
    spec.jobType = "Transcription";
    spec.videoId = std::move(videoId);
    spec.runner = "external";
    return await(service.createJob(std::move(spec)));
  }
  std::unique_ptr<storage::testing::TestDatabase> db_;
};

TEST_P(StoreLanesTest, EachJobsReportsAreStoredAndAnnouncedInTheOrderTheyWereMade) {
  Lanes lanes(*db_, 4);
  RecordingEvents events;
  jobs::ProgressService service(lanes.lanes, events);
  constexpr int kJobs = 8;
  constexpr int kReports = 60;
  std::vector<model::Job> jobs;
  for (int i = 0; i < kJobs; ++i) jobs.push_back(create(service));
  std::set<std::size_t> used;
  for (const auto& j : jobs) used.insert(service.laneOf(j));
  ASSERT_GT(used.size(), 1u) << "the jobs spread over several lanes";

  // Every report is made (queued) in order from one caller thread, interleaving the jobs,
  // none waiting for the one before: progress i is report i of its job.
  asio::io_context caller;
  int failures = 0;
  for (int i = 1; i <= kReports; ++i) {
    for (const auto& j : jobs) {
      jobs::ProgressReport r;
      r.progress = i;
      asio::co_spawn(caller, service.report(j.id, r),
                     [&](std::exception_ptr e, const jobs::ReportResult& result) {
                       if (e || result.outcome != jobs::ReportOutcome::Recorded) ++failures;
                     });
    }
  }
  caller.run();
  EXPECT_EQ(failures, 0);

  std::lock_guard lock(events.mutex);
  for (const auto& j : jobs) {
    const auto& seen = events.byJob[j.id];
    ASSERT_EQ(seen.size(), std::size_t(kReports) + 1) << j.id;
    for (std::size_t k = 0; k < seen.size(); ++k) {
      EXPECT_EQ(seen[k].first, std::int64_t(k) + 1) << "announced in sequence order";
      // Sequence k+1 is report k: the store saw them in the order they were made.
      EXPECT_EQ(seen[k].second, static_cast<double>(k)) << "job " << j.id << " entry " << k;
    }
  }
  // And the store agrees: the history's progress is 0, 1, 2, ... kReports.
  auto history = await(service.onStore(
      [id = jobs.front().id](storage::Store& s) { return s.progressHistory(id, 0, 1000); }));
  ASSERT_EQ(history.size(), std::size_t(kReports) + 1);
  for (std::size_t k = 0; k < history.size(); ++k) {
    EXPECT_EQ(history[k].progress, static_cast<double>(k));
  }
}

TEST_P(StoreLanesTest, ALaneBlockedOnASlowCallDoesNotDelayAnotherJobsReport) {
  // The caller's context outlives the lanes: a lane thread still holds (and at the end of
  // a call releases) a work-tracking executor of it until the lanes are joined.
  asio::io_context caller;
  Lanes lanes(*db_, 2);
  RecordingEvents events;
  jobs::ProgressService service(lanes.lanes, events);
  // Two jobs on different lanes.
  auto a = create(service);
  model::Job b;
  do {
    b = create(service);
  } while (service.laneOf(b) == service.laneOf(a));

  // Lane of `a` is busy: a store call that does not return until the test says so.
  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<void> blocking;
  asio::co_spawn(caller,
                 service.onStore(service.laneOf(a),
                                 [&blocking, released](storage::Store&) {
                                   blocking.set_value();
                                   released.wait();
                                   return 0;
                                 }),
                 asio::detached);
  std::thread callerThread([&] {
    auto guard = asio::make_work_guard(caller);
    caller.run();
  });
  blocking.get_future().wait();

  jobs::ProgressReport r;
  r.progress = 50;
  std::promise<jobs::ReportOutcome> aDone, bDone;
  asio::post(caller, [&] {
    asio::co_spawn(
        caller, service.report(a.id, r),
        [&](std::exception_ptr, jobs::ReportResult res) { aDone.set_value(res.outcome); });
    asio::co_spawn(
        caller, service.report(b.id, r),
        [&](std::exception_ptr, jobs::ReportResult res) { bDone.set_value(res.outcome); });
  });
  auto bFuture = bDone.get_future();
  auto aFuture = aDone.get_future();
  // Generous bound (sanitizer builds): it returns in milliseconds.
  ASSERT_EQ(bFuture.wait_for(20s), std::future_status::ready)
      << "b's report waited for a's blocked lane";
  EXPECT_EQ(bFuture.get(), jobs::ReportOutcome::Recorded);
  EXPECT_EQ(aFuture.wait_for(100ms), std::future_status::timeout)
      << "a's report waits behind its lane's slow call";
  release.set_value();
  ASSERT_EQ(aFuture.wait_for(20s), std::future_status::ready);
  EXPECT_EQ(aFuture.get(), jobs::ReportOutcome::Recorded);
  caller.stop();
  callerThread.join();
}

TEST_P(StoreLanesTest, AJobOfAVideoRunsOnItsVideosLaneAlsoWhenOnlyItsIdIsKnown) {
  Lanes lanes(*db_, 4);
  RecordingEvents events;
  jobs::ProgressService service(lanes.lanes, events);
  // Another node created the jobs: this one has never seen them.
  Lanes otherLanes(*db_, 1);
  jobs::NoJobEvents none;
  jobs::ProgressService other(otherLanes.lanes, none);
  for (int i = 0; i < 8; ++i) {
    const auto videoId = "video-" + std::to_string(i);
    auto job = create(other, videoId);
    EXPECT_EQ(await(service.laneOfJobId(job.id)), service.laneOfKey(videoId));
    EXPECT_EQ(service.laneOf(job), service.laneOfKey(videoId));
  }
  // Unknown ids: their own key (the call answers NotFound wherever it runs).
  EXPECT_EQ(await(service.laneOfJobId("nope")), service.laneOfKey("nope"));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreLanesTest, storage::testing::allBackends(),
                         storage::testing::backendName);

}  // namespace
