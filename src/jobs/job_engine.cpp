#include "jobs/job_engine.h"

#include <spdlog/spdlog.h>

#include "core/clock.h"

namespace herald::jobs {

using model::JobStatus;

JobEngine::JobEngine(ProgressService& service, EngineOptions options)
    : service_(service), options_(options) {}

JobEngine::~JobEngine() { stop(); }

void JobEngine::registerProcessor(const std::string& jobType, ProcessorPtr processor) {
  processors_[jobType] = std::move(processor);
}

void JobEngine::start() {
  // Called before any thread serves requests or runs store work (the server starts its
  // loops after this), so the recovery runs right here: the store's executor may be an
  // I/O loop that is not running yet.
  auto requeued = service_.onStoreInline([this](storage::Store& store) {
    return service_.recoverInterruptedNow([&store](const model::Job& job) {
      // A pipeline job whose ingestion finished only waits for its children.
      if (job.jobType != model::kVideoProcessing || job.videoId.empty()) return false;
      auto video = store.getVideo(job.videoId);
      return video && VideoPipeline::ingestionDone(*video);
    });
  });
  if (!requeued.empty()) spdlog::info("jobs: re-queued {} interrupted job(s)", requeued.size());
  if (!options_.enabled) {
    spdlog::info("jobs: background jobs disabled; queued jobs wait");
    return;
  }
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
  spdlog::info("jobs: {} worker(s) started", options_.workers);
}

void JobEngine::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    for (auto& [id, flag] : runningFlags_) *flag = true;
  }
  wakeup_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void JobEngine::wake() { wakeup_.notify_one(); }

bool JobEngine::running(const std::string& jobId) const {
  std::lock_guard lock(mutex_);
  return runningFlags_.count(jobId) > 0;
}

void JobEngine::workerLoop(int index) {
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    std::optional<model::Job> job;
    try {
      // Claiming runs on the storage executor, ordered with cancels; the running flag
      // is registered there too so a cancel can never miss a just-claimed job.
      job = service_.onStoreSync([this](storage::Store&) {
        auto claimed = service_.claimNextNow();
        if (claimed) {
          std::lock_guard lock(mutex_);
          runningFlags_[claimed->id] = std::make_shared<std::atomic<bool>>(stopping_);
        }
        return claimed;
      });
    } catch (const std::exception& e) {
      spdlog::error("jobs: worker {} could not claim a job: {}", index, e.what());
    }
    if (!job) {
      std::unique_lock lock(mutex_);
      wakeup_.wait_for(lock, options_.idlePoll, [this] { return stopping_; });
      continue;
    }
    runJob(*job);
    std::lock_guard lock(mutex_);
    runningFlags_.erase(job->id);
  }
}

void JobEngine::runJob(const model::Job& job) {
  std::shared_ptr<std::atomic<bool>> cancel;
  {
    std::lock_guard lock(mutex_);
    cancel = runningFlags_[job.id];
  }
  ProgressReporter reporter(service_, job.id, options_.maxUpdatesPerSecond);
  auto it = processors_.find(job.jobType);
  std::optional<std::string> error;
  bool transient = false;
  Outcome outcome = Outcome::Completed;
  spdlog::info("job {}: running {} (attempt {}/{})", job.id, job.jobType, job.attempts,
               job.maxAttempts);
  if (it == processors_.end()) {
    error = "No processor for job type " + job.jobType;
  } else {
    JobContext context{job, reporter, *cancel, service_};
    try {
      outcome = it->second->run(context);
    } catch (const TransientError& e) {
      error = e.what();
      transient = true;
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown error";
    }
  }
  bool shuttingDown;
  {
    std::lock_guard lock(mutex_);
    shuttingDown = stopping_;
  }
  try {
    if (*cancel && shuttingDown) {
      // Leave it Running: the next start re-queues it.
      spdlog::info("job {}: interrupted by shutdown", job.id);
      return;
    }
    if (*cancel) {
      reporter.flush();
      ProgressReport r;
      r.status = JobStatus::Cancelled;
      r.statusMessage = "Cancelled";
      service_.onStoreSync([&](storage::Store&) { return service_.reportNow(job.id, r); });
      spdlog::info("job {}: cancelled", job.id);
      return;
    }
    if (error) {
      reporter.flush();
      if (transient && job.attempts < job.maxAttempts) {
        auto delay = options_.retryBaseDelay * (1 << std::min(job.attempts - 1, 10));
        service_.onStoreSync(
            [&](storage::Store&) { return service_.retryLaterNow(job.id, *error, delay); });
      } else {
        ProgressReport r;
        r.status = JobStatus::Failed;
        r.errorMessage = *error;
        r.statusMessage = "Job failed";
        service_.onStoreSync([&](storage::Store&) { return service_.reportNow(job.id, r); });
      }
      return;
    }
    if (outcome == Outcome::Completed) {
      reporter.flush();
      ProgressReport r;
      r.status = JobStatus::Completed;
      r.progress = 100;
      r.currentStage = "Completed";
      r.statusMessage = "Completed";
      service_.onStoreSync([&](storage::Store&) { return service_.reportNow(job.id, r); });
    }
  } catch (const std::exception& e) {
    spdlog::error("job {}: recording its outcome failed: {}", job.id, e.what());
  }
}

CancelOutcome JobEngine::cancelOne(storage::Store&, const model::Job& job) {
  if (model::isTerminal(job.status)) return CancelOutcome::AlreadyFinished;
  {
    std::lock_guard lock(mutex_);
    auto it = runningFlags_.find(job.id);
    if (it != runningFlags_.end()) {
      *it->second = true;  // the worker stops the processor and records Cancelled
      return CancelOutcome::Cancelling;
    }
  }
  ProgressReport r;
  r.status = JobStatus::Cancelled;
  r.statusMessage = "Cancelled";
  service_.reportNow(job.id, r);
  return CancelOutcome::Cancelled;
}

CancelOutcome JobEngine::cancelOnStore(const std::string& jobId) {
  return service_.onStoreInline([&](storage::Store& store) {
    auto job = store.getJob(jobId);
    if (!job) return CancelOutcome::NotFound;
    auto outcome = cancelOne(store, *job);
    if (outcome != CancelOutcome::AlreadyFinished && job->jobType == model::kVideoProcessing &&
        !job->videoId.empty()) {
      storage::JobFilter filter;
      filter.videoId = job->videoId;
      filter.limit = 1000;
      for (const auto& child : store.listJobs(filter)) {
        if (child.id != job->id && !model::isTerminal(child.status)) cancelOne(store, child);
      }
    }
    return outcome;
  });
}

}  // namespace herald::jobs
