#include "jobs/job_engine.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include <boost/system/system_error.hpp>

#include <spdlog/spdlog.h>

#include "core/clock.h"

namespace herald::jobs {

bool isResourceShortage(int err) {
  return err == EMFILE || err == ENFILE || err == EAGAIN || err == ENOMEM;
}

using model::JobStatus;

namespace {

// Whether a default node id (hostname-pid-random, server.cpp) names a process of this
// host that is gone: a node restarted after kill -9 then re-queues its previous life's
// jobs at once instead of waiting out their leases. A reused pid reads as alive, which
// only means waiting for the expiry.
bool deadLocalProcess(const std::string& owner) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return false;
  const std::string prefix = std::string(host) + "-";
  if (owner.rfind(prefix, 0) != 0) return false;
  const auto rest = owner.substr(prefix.size());
  const auto dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || dash > 9) return false;
  pid_t pid = 0;
  for (char c : rest.substr(0, dash)) {
    if (c < '0' || c > '9') return false;
    pid = pid * 10 + (c - '0');
  }
  return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

}  // namespace

JobEngine::JobEngine(ProgressService& service, EngineOptions options)
    : service_(service), options_(std::move(options)) {}

JobEngine::~JobEngine() { stop(); }

void JobEngine::registerProcessor(const std::string& jobType, ProcessorPtr processor) {
  processors_[jobType] = std::move(processor);
}

void JobEngine::start() {
  // Called before any thread serves requests or runs store work (the server starts its
  // loops after this), so the recovery runs right here: the store's executor may be an
  // I/O loop that is not running yet.
  auto requeued = service_.onStoreInline([this](storage::Store& store) {
    return service_.recoverInterruptedNow(
        [&store](const model::Job& job) {
          // A pipeline job whose ingestion finished only waits for its children.
          if (job.jobType != model::kVideoProcessing || job.videoId.empty()) return false;
          auto video = store.getVideo(job.videoId);
          return video && VideoPipeline::ingestionDone(*video);
        },
        [this](const std::string& owner) {
          return owner == options_.nodeId || deadLocalProcess(owner);
        });
  });
  if (!requeued.empty()) spdlog::info("jobs: re-queued {} interrupted job(s)", requeued.size());
  if (!options_.enabled) {
    spdlog::info("jobs: background jobs disabled; queued jobs wait");
    return;
  }
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
  keeper_ = std::thread([this] { keeperLoop(); });
  spdlog::info("jobs: {} worker(s) started on node {} (leases of {} ms)", options_.workers,
               options_.nodeId, options_.leaseLength.count());
}

void JobEngine::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    for (auto& [id, running] : runningFlags_) running->cancel = true;
  }
  wakeup_.notify_all();
  keeperWakeup_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  if (keeper_.joinable()) keeper_.join();
}

void JobEngine::keeperLoop() {
  while (true) {
    {
      std::unique_lock lock(mutex_);
      keeperWakeup_.wait_for(lock, options_.leaseCheck, [this] { return stopping_ || checkNow_; });
      if (stopping_) return;
      checkNow_ = false;
    }
    try {
      checkLeases();
    } catch (const std::exception& e) {
      spdlog::error("jobs: checking leases failed: {}", e.what());
    }
  }
}

void JobEngine::checkLeases() {
  std::vector<std::pair<std::string, std::shared_ptr<RunningJob>>> jobs;
  {
    std::lock_guard lock(mutex_);
    jobs.assign(runningFlags_.begin(), runningFlags_.end());
  }
  const auto renewEvery = options_.leaseLength.count() / 3;
  for (auto& [id, running] : jobs) {
    if (running->cancel || running->leaseToken.empty()) continue;
    const auto now = service_.nowMillis();
    bool held;
    if (now - running->renewedAt >= renewEvery) {
      // False once the job is no longer Running under our token.
      held = service_.onStoreSync(
          service_.anyLane(), [&, &id = id, &running = running](storage::Store& store) {
            return store.renewLease(id, running->leaseToken, now + options_.leaseLength.count());
          });
      if (held) running->renewedAt = now;
    } else {
      auto job = service_.onStoreSync(
          service_.anyLane(), [&id = id](storage::Store& store) { return store.getJob(id); });
      held = job && job->status == JobStatus::Running && job->leaseToken == running->leaseToken;
    }
    if (!held) {
      spdlog::warn("job {}: no longer ours (cancelled, or taken over by another node); stopping",
                   id);
      running->lost = true;
      running->cancel = true;
    }
  }
}

void JobEngine::wake() { wakeup_.notify_one(); }

void JobEngine::checkSoon(const std::string& jobId) {
  {
    std::lock_guard lock(mutex_);
    if (!runningFlags_.count(jobId)) return;
    checkNow_ = true;
  }
  spdlog::info("job {}: another node signalled a change; checking its lease now", jobId);
  keeperWakeup_.notify_one();
}

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
      // The running flag is registered on the claim's lane, right after the claim. With one
      // lane that orders it with cancels (a cancel never misses a just-claimed job); with
      // several, a cancel on the job's lane that read the job just before the claim
      // committed finds no flag but still writes Cancelled over the claim (the store
      // serialises them), and the lease check stops the job within a second, as when
      // another node cancels it.
      job = service_.onStoreSync(service_.anyLane(), [this](storage::Store&) {
        auto claimed = service_.claimNextNow({}, LeaseSpec{options_.nodeId, options_.leaseLength});
        if (claimed) {
          auto running = std::make_shared<RunningJob>();
          running->leaseToken = claimed->leaseToken;
          running->renewedAt = service_.nowMillis();
          std::lock_guard lock(mutex_);
          running->cancel = stopping_;
          runningFlags_[claimed->id] = std::move(running);
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
  std::shared_ptr<RunningJob> running;
  {
    std::lock_guard lock(mutex_);
    running = runningFlags_[job.id];
  }
  const std::atomic<bool>* cancel = &running->cancel;
  const std::string& token = running->leaseToken;
  ProgressReporter reporter(service_, job, options_.maxUpdatesPerSecond, token);
  const auto lane = service_.laneOf(job);
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
    } catch (const LeaseLost&) {
      running->lost = true;  // its writes were refused: someone else's attempt runs
    } catch (const TransientError& e) {
      error = e.what();
      transient = true;
    } catch (const std::system_error& e) {
      // A file or socket the processor could not open for want of descriptors (EMFILE):
      // the next attempt may well have them.
      error = e.what();
      const auto& category = e.code().category();
      transient = (category == std::generic_category() || category == std::system_category()) &&
                  isResourceShortage(e.code().value());
    } catch (const boost::system::system_error& e) {
      error = e.what();
      const auto& category = e.code().category();
      transient = (category == boost::system::generic_category() ||
                   category == boost::system::system_category()) &&
                  isResourceShortage(e.code().value());
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
    if (running->lost) {
      // Its state is someone else's now; anything written here would be refused anyway.
      spdlog::info("job {}: stopped (lease lost)", job.id);
      return;
    }
    if (*cancel && shuttingDown) {
      // Given back at once, for another node (or this one's next start) to run.
      service_.onStoreSync(lane, [&](storage::Store&) {
        return service_.giveBackNow(job.id, token, "node " + options_.nodeId + " stopped");
      });
      spdlog::info("job {}: interrupted by shutdown, given back", job.id);
      return;
    }
    if (*cancel) {
      reporter.flush();
      ProgressReport r;
      r.status = JobStatus::Cancelled;
      r.statusMessage = "Cancelled";
      r.fenced = true;
      r.leaseToken = token;
      service_.onStoreSync(lane, [&](storage::Store&) { return service_.reportNow(job.id, r); });
      spdlog::info("job {}: cancelled", job.id);
      return;
    }
    if (error) {
      reporter.flush();
      if (transient && job.attempts < job.maxAttempts) {
        auto delay = options_.retryBaseDelay * (1 << std::min(job.attempts - 1, 10));
        service_.onStoreSync(lane, [&](storage::Store&) {
          return service_.retryLaterNow(job.id, *error, delay, token);
        });
      } else {
        ProgressReport r;
        r.status = JobStatus::Failed;
        r.errorMessage = *error;
        r.statusMessage = "Job failed";
        r.fenced = true;
        r.leaseToken = token;
        service_.onStoreSync(lane, [&](storage::Store&) { return service_.reportNow(job.id, r); });
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
      r.fenced = true;
      r.leaseToken = token;
      service_.onStoreSync(lane, [&](storage::Store&) { return service_.reportNow(job.id, r); });
    } else if (!token.empty()) {
      // Waiting: it stays Running until its children finish it; no node runs it any more,
      // so its lease must not expire (an expiry would run it again).
      service_.onStoreSync(
          lane, [&](storage::Store& store) { return store.renewLease(job.id, token, 0); });
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
      it->second->cancel = true;  // the worker stops the processor and records Cancelled
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
      // Every job on the video, however many: a page of them at a time.
      storage::JobFilter filter;
      filter.videoId = job->videoId;
      filter.limit = 1000;
      storage::forEachJob(store, filter, [&](const model::Job& child) {
        if (child.id != job->id && !model::isTerminal(child.status)) cancelOne(store, child);
      });
    }
    return outcome;
  });
}

}  // namespace herald::jobs
