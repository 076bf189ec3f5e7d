// The job engine against a real SQLite store in a temp dir and fake processors:
// priority order and FIFO within a priority, retries with backoff, attempts used up,
// cancellation of running and pending jobs, recovery of interrupted jobs at start-up.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "jobs/job_events.h"
#include "jobs/job_engine.h"
#include "storage/sqlite/sqlite_store.h"

using namespace herald;
using namespace std::chrono_literals;

namespace {

class Recorder final : public jobs::Processor {
 public:
  std::function<jobs::Outcome(jobs::JobContext&)> body;
  std::mutex mutex;
  std::vector<std::string> order;  // metadata "name" of each run, in start order

  jobs::Outcome run(jobs::JobContext& ctx) override {
    {
      std::lock_guard lock(mutex);
      auto* n = ctx.job.metadata.if_contains("name");
      order.push_back(n ? std::string(n->as_string()) : ctx.job.id);
    }
    return body ? body(ctx) : jobs::Outcome::Completed;
  }
  std::vector<std::string> runs() {
    std::lock_guard lock(mutex);
    return order;
  }
};

class JobEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald-engine-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    open();
  }
  void TearDown() override {
    close();
    std::filesystem::remove_all(dir_);
  }
  void open() {
    // No fsync per commit: durability is not under test here, and some tests write
    // thousands of jobs.
    store_ = std::make_unique<storage::SqliteStore>((dir_ / "h.db").string(), 1000,
                                                    /*fullSync=*/false);
    guard_.emplace(ctx_.get_executor());
    thread_ = std::thread([this] { ctx_.run(); });
    service_ = std::make_unique<jobs::ProgressService>(*store_, ctx_.get_executor(), events_);
  }
  void close() {
    engine_.reset();
    guard_.reset();
    if (thread_.joinable()) thread_.join();
    ctx_.restart();
    service_.reset();
    store_.reset();
  }
  jobs::JobEngine& engine(jobs::EngineOptions options) {
    engine_ = std::make_unique<jobs::JobEngine>(*service_, options);
    return *engine_;
  }
  model::Job queue(const std::string& name, int priority, int maxAttempts = 3) {
    jobs::NewJob spec;
    spec.jobType = "Test";
    spec.priority = priority;
    spec.maxAttempts = maxAttempts;
    spec.runner = std::string(model::kRunnerHerald);
    spec.metadata["name"] = name;
    return service_->onStoreSync(0, [&](storage::Store&) { return service_->createJobNow(spec); });
  }
  model::Job get(const std::string& id) {
    return *service_->onStoreSync(0, [&](storage::Store& s) { return s.getJob(id); });
  }
  template <class P>
  void waitUntil(P predicate, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!predicate()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timed out";
      std::this_thread::sleep_for(5ms);
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::SqliteStore> store_;
  boost::asio::io_context ctx_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  jobs::NoJobEvents events_;
  std::unique_ptr<jobs::ProgressService> service_;
  std::unique_ptr<jobs::JobEngine> engine_;
};

jobs::EngineOptions oneWorker() {
  jobs::EngineOptions o;
  o.workers = 1;
  o.idlePoll = 20ms;
  o.retryBaseDelay = 50ms;
  return o;
}

}  // namespace

TEST_F(JobEngineTest, HighestPriorityFirstThenFifo) {
  auto rec = std::make_shared<Recorder>();
  std::vector<model::Job> jobs;
  for (auto [name, prio] : std::vector<std::pair<std::string, int>>{
           {"low-1", 0}, {"high-1", 3}, {"mid-1", 1}, {"high-2", 3}, {"low-2", 0}, {"mid-2", 1}}) {
    jobs.push_back(queue(name, prio));
    std::this_thread::sleep_for(2ms);  // distinct creation times
  }
  auto& e = engine(oneWorker());
  e.registerProcessor("Test", rec);
  e.start();
  waitUntil([&] { return rec->runs().size() == 6; });
  EXPECT_EQ(rec->runs(),
            (std::vector<std::string>{"high-1", "high-2", "mid-1", "mid-2", "low-1", "low-2"}));
  for (const auto& j : jobs) {
    waitUntil([&] { return get(j.id).status == model::JobStatus::Completed; });
    EXPECT_EQ(get(j.id).attempts, 1);
  }
}

TEST_F(JobEngineTest, TransientFailuresRetryWithBackoffThenSucceed) {
  auto rec = std::make_shared<Recorder>();
  std::atomic<int> calls{0};
  std::vector<std::chrono::steady_clock::time_point> starts;
  std::mutex m;
  rec->body = [&](jobs::JobContext&) {
    {
      std::lock_guard lock(m);
      starts.push_back(std::chrono::steady_clock::now());
    }
    if (++calls < 3) throw jobs::TransientError("service busy");
    return jobs::Outcome::Completed;
  };
  auto job = queue("flaky", 0, 3);
  auto& e = engine(oneWorker());
  e.registerProcessor("Test", rec);
  e.start();
  waitUntil([&] { return get(job.id).status == model::JobStatus::Completed; });
  auto done = get(job.id);
  EXPECT_EQ(done.attempts, 3);
  ASSERT_EQ(starts.size(), 3u);
  // Backoff 50 ms, then 100 ms (doubled).
  EXPECT_GE(starts[1] - starts[0], 45ms);
  EXPECT_GE(starts[2] - starts[1], 95ms);
  // The history shows the retries with their reason.
  auto history = service_->onStoreSync(
      0, [&](storage::Store& s) { return s.progressHistory(job.id, 0, 100); });
  int waits = 0;
  for (const auto& h : history) {
    if (h.status == model::JobStatus::Pending &&
        h.errorMessage == std::optional<std::string>("service busy"))
      ++waits;
  }
  EXPECT_EQ(waits, 2);
}

TEST_F(JobEngineTest, AttemptsUsedUpEndsFailedAndPermanentErrorsFailAtOnce) {
  auto rec = std::make_shared<Recorder>();
  rec->body = [](jobs::JobContext& ctx) -> jobs::Outcome {
    auto* n = ctx.job.metadata.if_contains("name");
    if (n && n->as_string() == "broken") throw jobs::PermanentError("corrupt input");
    throw jobs::TransientError("still down");
  };
  auto flaky = queue("flaky", 0, 2);
  auto broken = queue("broken", 0, 3);
  auto& e = engine(oneWorker());
  e.registerProcessor("Test", rec);
  e.start();
  waitUntil([&] {
    return model::isTerminal(get(flaky.id).status) && model::isTerminal(get(broken.id).status);
  });
  EXPECT_EQ(get(flaky.id).status, model::JobStatus::Failed);
  EXPECT_EQ(get(flaky.id).attempts, 2);
  EXPECT_EQ(get(flaky.id).errorMessage.value_or(""), "still down");
  EXPECT_EQ(get(broken.id).status, model::JobStatus::Failed);
  EXPECT_EQ(get(broken.id).attempts, 1);
  EXPECT_EQ(get(broken.id).errorMessage.value_or(""), "corrupt input");
}

TEST_F(JobEngineTest, CancelStopsARunningJobAndAPendingOneAtOnce) {
  auto rec = std::make_shared<Recorder>();
  std::atomic<bool> started{false};
  rec->body = [&](jobs::JobContext& ctx) -> jobs::Outcome {
    started = true;
    while (!ctx.cancel) std::this_thread::sleep_for(1ms);
    throw std::runtime_error("stopped");
  };
  auto running = queue("running", 3);
  auto pending = queue("pending", 0);
  auto& e = engine(oneWorker());
  e.registerProcessor("Test", rec);
  e.start();
  waitUntil([&] { return started.load(); });
  auto t0 = std::chrono::steady_clock::now();
  auto outcome =
      service_->onStoreSync(0, [&](storage::Store&) { return e.cancelOnStore(running.id); });
  EXPECT_EQ(outcome, jobs::CancelOutcome::Cancelling);
  waitUntil([&] { return get(running.id).status == model::JobStatus::Cancelled; }, 1s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  // The pending job is cancelled directly, before any worker takes it... unless the
  // worker already did: then it is signalled. Either way it ends Cancelled.
  auto p = service_->onStoreSync(0, [&](storage::Store&) { return e.cancelOnStore(pending.id); });
  EXPECT_TRUE(p == jobs::CancelOutcome::Cancelled || p == jobs::CancelOutcome::Cancelling);
  waitUntil([&] { return get(pending.id).status == model::JobStatus::Cancelled; });
  EXPECT_EQ(service_->onStoreSync(0, [&](storage::Store&) { return e.cancelOnStore(pending.id); }),
            jobs::CancelOutcome::AlreadyFinished);
  EXPECT_EQ(service_->onStoreSync(0, [&](storage::Store&) { return e.cancelOnStore("nope"); }),
            jobs::CancelOutcome::NotFound);
}

TEST_F(JobEngineTest, InterruptedJobsAreRequeuedOrFailedAtStartUp) {
  // Simulate a crash: jobs marked Running with attempts used, then a fresh engine.
  auto again = queue("again", 0, 3);
  auto spent = queue("spent", 0, 2);
  for (auto* j : {&again, &spent}) {
    auto change = service_->onStoreSync(0, [&](storage::Store& s) {
      return s.updateJob(j->id, [&](model::Job& job) {
        job.status = model::JobStatus::Running;
        job.attempts = j == &again ? 1 : 2;
        return true;
      });
    });
    ASSERT_EQ(change.outcome, storage::JobChange::Outcome::Updated);
  }
  auto rec = std::make_shared<Recorder>();
  auto& e = engine(oneWorker());
  e.registerProcessor("Test", rec);
  e.start();
  waitUntil([&] { return get(again.id).status == model::JobStatus::Completed; });
  EXPECT_EQ(get(again.id).attempts, 2);  // counted again when it restarted
  EXPECT_EQ(get(spent.id).status, model::JobStatus::Failed);
  EXPECT_NE(get(spent.id).errorMessage.value_or("").find("interrupted"), std::string::npos);
  EXPECT_EQ(rec->runs(), std::vector<std::string>{"again"});
}

TEST_F(JobEngineTest, ExternalJobsAreNeverClaimedAndDisabledEnginesRunNothing) {
  jobs::NewJob external;
  external.jobType = "Test";
  auto ext =
      service_->onStoreSync(0, [&](storage::Store&) { return service_->createJobNow(external); });
  auto mine = queue("mine", 0);
  auto rec = std::make_shared<Recorder>();
  auto options = oneWorker();
  options.enabled = false;
  auto& off = engine(options);
  off.registerProcessor("Test", rec);
  off.start();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(get(mine.id).status, model::JobStatus::Pending);
  auto& on = engine(oneWorker());
  on.registerProcessor("Test", rec);
  on.start();
  waitUntil([&] { return get(mine.id).status == model::JobStatus::Completed; });
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(get(ext.id).status, model::JobStatus::Pending);
  EXPECT_EQ(rec->runs(), std::vector<std::string>{"mine"});
}

// Cancelling a pipeline job cancels every unfinished job on its video, also when the video
// has more jobs than one page of the store's list holds (1,000), most of them newer than
// the pipeline job: the engine pages through them all.
TEST_F(JobEngineTest, CancellingAPipelineCancelsEveryJobOfItsVideoHoweverMany) {
  constexpr int kChildren = 1100;
  auto create = [&](const std::string& type, const std::string& runner) {
    jobs::NewJob spec;
    spec.jobType = type;
    spec.videoId = "video-with-many-jobs";
    spec.runner = runner;
    return service_->onStoreSync(0, [&](storage::Store&) { return service_->createJobNow(spec); });
  };
  auto pipeline = create(std::string(model::kVideoProcessing), std::string(model::kRunnerHerald));
  for (int i = 0; i < kChildren; ++i) create("Transcription", "");  // external workers' jobs
  auto options = oneWorker();
  options.enabled = false;  // nothing runs: every job stays Pending until cancelled
  auto& e = engine(options);
  e.start();
  EXPECT_EQ(service_->onStoreSync(0, [&](storage::Store&) { return e.cancelOnStore(pipeline.id); }),
            jobs::CancelOutcome::Cancelled);
  int cancelled = 0;
  int other = 0;
  service_->onStoreSync(0, [&](storage::Store& store) {
    storage::JobFilter filter;
    filter.videoId = "video-with-many-jobs";
    storage::forEachJob(store, filter, [&](const model::Job& job) {
      ++(job.status == model::JobStatus::Cancelled ? cancelled : other);
    });
    return 0;
  });
  EXPECT_EQ(cancelled, kChildren + 1);
  EXPECT_EQ(other, 0);
}
