#include "jobs/progress_service.h"

#include "metrics/herald_metrics.h"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/ids.h"
#include "core/json_text.h"

namespace herald::jobs {

namespace asio = boost::asio;
using model::JobStatus;
using storage::JobChange;

namespace {

// Job ids remembered for laneOfJobId before the map is cleared (a few MB at most).
constexpr std::size_t kRememberedJobs = 100'000;

}  // namespace

ProgressService::ProgressService(storage::Store& store, asio::any_io_executor storeExecutor,
                                 JobEvents& events, const core::Clock& clock)
    : ProgressService(std::vector<StoreLane>{{store, std::move(storeExecutor)}}, events, clock) {}

ProgressService::ProgressService(const std::vector<StoreLane>& lanes, JobEvents& events,
                                 const core::Clock& clock)
    : events_(events), clock_(clock) {
  if (lanes.empty()) throw std::invalid_argument("ProgressService needs at least one lane");
  for (const auto& l : lanes) lanes_.push_back(std::make_unique<Lane>(l.store, l.executor));
}

asio::awaitable<std::size_t> ProgressService::laneOfJobId(std::string jobId) {
  if (lanes_.size() == 1) co_return 0;
  {
    std::lock_guard lock(lanesMutex_);
    if (auto it = videoOfJob_.find(jobId); it != videoOfJob_.end()) {
      co_return laneOfKey(it->second.empty() ? std::string_view(jobId) : it->second);
    }
  }
  // Not seen here yet (created and run by other nodes): its video is in the store.
  // Two statements: GCC 12 frees a lambda's captures twice when the co_spawn that takes
  // it shares a full-expression with co_await (heap corruption; see git log).
  auto reading =
      onStore(laneOfKey(jobId), [jobId](storage::Store& store) { return store.getJob(jobId); });
  auto job = co_await std::move(reading);
  if (!job) co_return laneOfKey(jobId);  // the call will answer NotFound, from any lane
  rememberLane(*job);
  co_return laneOf(*job);
}

void ProgressService::rememberLane(const model::Job& job) {
  std::lock_guard lock(lanesMutex_);
  if (videoOfJob_.size() >= kRememberedJobs) videoOfJob_.clear();
  videoOfJob_.try_emplace(job.id, job.videoId);
}

asio::awaitable<model::Job> ProgressService::createJob(NewJob spec) {
  if (spec.id.empty() && spec.videoId.empty() && lanes_.size() > 1) spec.id = core::newUuid();
  const auto lane = laneOfKey(spec.videoId.empty() ? spec.id : spec.videoId);
  return onStoreDurable(
      lane, [this, spec = std::move(spec)](storage::Store&) { return createJobNow(spec); });
}

asio::awaitable<ReportResult> ProgressService::report(std::string jobId, ProgressReport report) {
  // Several lanes: the job's lane is found first (a copy of the id and a coroutine only
  // then, so one lane pays nothing).
  std::string id = lanes_.size() == 1 ? std::string() : jobId;
  auto now = [this, jobId = std::move(jobId), report = std::move(report)](storage::Store&) {
    return reportNow(jobId, report);
  };
  if (lanes_.size() == 1) return onStoreDurable(0, std::move(now));
  return [](ProgressService& self, std::string id,
            decltype(now) work) -> asio::awaitable<ReportResult> {
    auto finding = self.laneOfJobId(std::move(id));
    const auto lane = co_await std::move(finding);
    auto reporting = self.onStoreDurable(lane, std::move(work));  // not in the co_await's
    co_return co_await std::move(reporting);                      // expression (GCC 12)
  }(*this, std::move(id), std::move(now));
}

asio::awaitable<model::Job> ProgressService::ingestVideo(NewVideo spec) {
  if (spec.id.empty()) spec.id = core::newUuid();
  const auto lane = laneOfKey(spec.id);
  return onStoreDurable(lane, [this, spec = std::move(spec)](storage::Store&) mutable {
    return videos_.createNow(spec);
  });
}

std::shared_ptr<ProgressService::Batch> ProgressService::joinBatch(Lane& lane) {
  if (lane.batch) return lane.batch;
  auto batch = std::make_shared<Batch>(lane.executor);
  lane.store.beginBatch();
  lane.batch = batch;
  // Runs after every task already queued on the executor: they all join this batch.
  asio::post(lane.executor, [this, &lane] { commitBatch(lane); });
  return batch;
}

void ProgressService::commitBatch(Lane& lane) {
  auto batch = std::move(lane.batch);
  lane.batch.reset();
  if (!batch) return;
  auto deliveries = std::move(lane.deferred);
  lane.deferred.clear();
  try {
    lane.store.commitBatch();
  } catch (const storage::StoreConflict& e) {
    // Nothing was written (the store rolled it back); the durable calls run again.
    batch->failed = true;
    batch->conflict = true;
    batch->error = e.what();
    spdlog::warn("store: a batch of writes was undone by a deadlock; running it again: {}",
                 e.what());
    deliveries.clear();
  } catch (const std::exception& e) {
    lane.store.rollbackBatch();
    batch->failed = true;
    batch->error = e.what();
    spdlog::error("store: a batch of writes failed to commit: {}", e.what());
    deliveries.clear();  // nothing of it happened
  }
  if (!deliveries.empty()) {
    try {
      events_.deliverBatch(deliveries);
    } catch (const std::exception& e) {
      stats_.notifyFailures++;
      spdlog::error("announcing a batch of {} changes failed: {}", deliveries.size(), e.what());
    }
  }
  batch->done.cancel();
}

void ProgressService::abandonBatch(Lane& lane) {
  auto batch = std::move(lane.batch);
  lane.batch.reset();
  lane.deferred.clear();  // nothing of it happened
  try {
    lane.store.rollbackBatch();
  } catch (const std::exception& e) {
    spdlog::error("store: rolling a batch back failed: {}", e.what());
  }
  if (batch) batch->done.cancel();
}

void ProgressService::announce(Delivery delivery) {
  if (!delivery) return;
  if (auto& l = lane(); l.batch) {
    // Not before the write it announces is committed.
    l.deferred.push_back(std::move(delivery));
    return;
  }
  try {
    delivery();
  } catch (const std::exception& e) {
    stats_.notifyFailures++;
    spdlog::error("announcing a change failed: {}", e.what());
  }
}

void ProgressService::recorded(const JobChange& change, JobStatus previous, bool moveVideo) {
  const auto& job = change.job;
  stats_.updatesRecorded++;
  if (lanes_.size() > 1) rememberLane(job);
  const bool statusChanged = previous != job.status;
  if (statusChanged && model::isTerminal(job.status)) {
    // Run time, from the (first) start to the end; a job cancelled before it ran ran 0 s.
    const auto ran =
        job.completedAt.value_or(job.updatedAt) - job.startedAt.value_or(job.updatedAt);
    metrics::herald()
        .jobDuration.with({job.jobType, std::string(model::toString(job.status))})
        .observe(static_cast<double>(std::max<std::int64_t>(ran, 0)) / 1000.0);
  }
  announce(events_.jobChanged(job, change.entry, statusChanged));
  if (statusChanged && (job.status == JobStatus::Completed || job.status == JobStatus::Failed)) {
    spdlog::info("job {}: {}{}", job.id, model::toString(job.status),
                 job.errorMessage ? " (" + *job.errorMessage + ")" : std::string());
  }
  if (moveVideo && !job.videoId.empty()) videos_.jobChangedNow(job);
}

std::optional<JobRefused> ProgressService::checkMetadata(const boost::json::object& metadata,
                                                         std::string_view when) const {
  if (metadata.empty()) return std::nullopt;
  const auto bytes = core::toJson(metadata).size();
  if (bytes <= limits_.maxMetadataBytes) return std::nullopt;
  return JobRefused("metadata", "metadata_too_large",
                    "metadata is " + std::to_string(bytes) + " bytes as JSON " + std::string(when) +
                        "; the limit is " + std::to_string(limits_.maxMetadataBytes) +
                        " (Jobs:MaxMetadataBytes)");
}

model::Job ProgressService::createJobNow(NewJob spec) {
  if (auto refusal = checkMetadata(spec.metadata, "as created")) throw std::move(*refusal);
  if (!spec.videoId.empty()) videos_.checkStageLimitNow(spec.videoId, spec.jobType);
  model::Job job;
  job.id = spec.id.empty() ? core::newUuid() : std::move(spec.id);
  job.videoId = std::move(spec.videoId);
  job.userId = std::move(spec.userId);
  job.jobType = std::move(spec.jobType);
  job.metadata = std::move(spec.metadata);
  job.priority = spec.priority;
  job.maxAttempts = spec.maxAttempts;
  job.runner = std::move(spec.runner);
  job.status = JobStatus::Pending;
  job.currentStage = "Queued";
  job.statusMessage = "Job created";
  job.createdAt = job.updatedAt = nowMillis();
  store().createJob(job);
  spdlog::info("job {}: created ({}, video {}, user {})", job.id, job.jobType,
               job.videoId.empty() ? "-" : job.videoId, job.userId.empty() ? "-" : job.userId);
  JobChange created;
  created.outcome = JobChange::Outcome::Updated;
  created.entry = model::snapshotOf(job);
  created.job = job;
  recorded(created, JobStatus::Pending);
  queuedNow(job);
  return job;
}

ReportResult ProgressService::change(const std::string& jobId, Accepts accepts,
                                     const std::function<bool(model::Job&)>& mutate,
                                     const std::string* fence, std::optional<JobRefused>* refusal,
                                     const std::string* reporter) {
  ReportResult result;
  JobStatus previous = JobStatus::Pending;
  std::int64_t queuedSince = 0;
  bool leaseLost = false;
  bool refused = false;
  bool hidden = false;
  auto changed = store().updateJob(jobId, [&](model::Job& job) {
    // First: a job this worker may not report to is "not found", whatever its state.
    if (reporter && job.runner != *reporter && job.leaseOwner != *reporter) {
      hidden = true;
      return false;
    }
    const bool rerunnable = job.status == JobStatus::Failed || job.status == JobStatus::Cancelled;
    const bool applies = accepts == Accepts::Open ? !model::isTerminal(job.status) : rerunnable;
    if (!applies) return false;
    // Inside the store's transaction: the token compared is the one stored right now, so
    // a takeover committed before this write always wins over it.
    if (fence && *fence != job.leaseToken) {
      leaseLost = true;
      return false;
    }
    previous = job.status;
    queuedSince = std::max(job.updatedAt, job.availableAt);
    if (!mutate(job)) {
      refused = true;
      return false;
    }
    job.updatedAt = nowMillis();
    return true;
  });
  switch (changed.outcome) {
    case JobChange::Outcome::NotFound: result.outcome = ReportOutcome::NotFound; return result;
    case JobChange::Outcome::Unchanged:
      if (hidden) {
        result.outcome = ReportOutcome::NotFound;
        return result;
      }
      result.outcome = leaseLost ? ReportOutcome::LeaseLost
                       : refused ? ReportOutcome::Refused
                                 : ReportOutcome::AlreadyFinished;
      if (refused && refusal) result.refusal = std::move(*refusal);
      result.job = std::move(changed.job);
      return result;
    case JobChange::Outcome::Updated: break;
  }
  // An external worker's first report takes the job off the queue.
  if (previous == JobStatus::Pending && changed.job.status == JobStatus::Running) {
    observeQueueWait(changed.job, queuedSince);
  }
  recorded(changed, previous);
  result.job = std::move(changed.job);
  return result;
}

void ProgressService::queuedNow(const model::Job& job) {
  if (job.status != JobStatus::Pending || job.availableAt > nowMillis()) return;
  // Not before the commit: a claim woken earlier would not see the job yet.
  announce([this] { queued_.notify(); });
}

void ProgressService::observeQueueWait(const model::Job& job, std::int64_t queuedSince) {
  // Claim time minus the moment it became runnable: created, re-queued or due again.
  const auto waited = std::max<std::int64_t>(job.updatedAt - queuedSince, 0);
  metrics::herald().queueWait.with({job.jobType}).observe(static_cast<double>(waited) / 1000.0);
}

namespace {

void clearLease(model::Job& job) {
  job.leaseOwner.clear();
  job.leaseToken.clear();
  job.leaseExpiresAt = 0;
  job.leaseMillis = 0;
}

}  // namespace

ReportResult ProgressService::reportNow(const std::string& jobId, const ProgressReport& r) {
  std::optional<JobRefused> refusal;
  auto result = change(
      jobId, Accepts::Open,
      [this, &r, &refusal](model::Job& job) {
        // Checked on the merged result first: a refused report changes nothing at all.
        if (r.metadata) {
          auto merged = job.metadata;
          for (const auto& [k, v] : *r.metadata) merged[k] = v;
          refusal = checkMetadata(merged, "after merging the report's");
          if (refusal) return false;
          job.metadata = std::move(merged);
        }
        const auto previous = job.status;
        const auto now = nowMillis();
        // A report without a status means work is under way.
        auto status = r.status.value_or(JobStatus::Running);
        if (status == JobStatus::Pending && previous == JobStatus::Running) status = previous;
        job.status = status;
        // Tenths of a percent are as fine as any progress bar shows.
        if (r.progress) job.progress = std::round(std::clamp(*r.progress, 0.0, 100.0) * 10) / 10;
        if (r.currentStage) job.currentStage = *r.currentStage;
        if (r.statusMessage) job.statusMessage = *r.statusMessage;
        if (status == JobStatus::Running && !job.startedAt) job.startedAt = now;
        if (model::isTerminal(status)) {
          job.completedAt = now;
          if (!job.startedAt) job.startedAt = now;
        }
        if (status == JobStatus::Completed) {
          if (!r.progress) job.progress = 100;
          if (!r.currentStage) job.currentStage = "Completed";
          job.errorMessage.reset();
        } else if (status == JobStatus::Failed) {
          job.errorMessage = r.errorMessage.value_or(job.errorMessage.value_or("Job failed"));
          if (!r.currentStage) job.currentStage = "Failed";
        } else if (status == JobStatus::Cancelled) {
          if (!r.currentStage) job.currentStage = "Cancelled";
        } else if (r.errorMessage) {
          job.errorMessage = r.errorMessage;
        }
        if (model::isTerminal(status) || status == JobStatus::Pending) {
          clearLease(job);  // nobody holds an ended or queued job
        } else if (r.fenced && job.leaseExpiresAt > 0 && job.leaseMillis > 0) {
          job.leaseExpiresAt = now + job.leaseMillis;  // the holder is alive: renewed
        }
        return true;
      },
      r.fenced ? &r.leaseToken : nullptr, &refusal, r.reporter.empty() ? nullptr : &r.reporter);
  if (result.outcome == ReportOutcome::Recorded) metrics::herald().reports.inc();
  return result;
}

std::optional<model::Job> ProgressService::claimNextNow(const storage::ClaimFilter& filter,
                                                        const LeaseSpec& lease) {
  // A job taken over with no attempts left is failed, and the next one is looked at; the
  // bound keeps one call short whatever the number of such jobs.
  for (int tries = 0; tries < 16; ++tries) {
    JobStatus previous = JobStatus::Pending;
    std::int64_t queuedSince = 0;
    auto claimed = store().claimNextJob(nowMillis(), filter, [&](model::Job& job) {
      const auto now = nowMillis();
      previous = job.status;
      const bool takeover = job.status == JobStatus::Running;
      queuedSince = takeover ? job.leaseExpiresAt : std::max(job.updatedAt, job.availableAt);
      job.updatedAt = now;
      if (takeover && job.attempts >= job.maxAttempts) {
        job.status = JobStatus::Failed;
        job.errorMessage = "The lease of attempt " + std::to_string(job.attempts) + " (held by " +
                           job.leaseOwner +
                           ") expired: its holder stopped renewing it; no attempts left";
        job.currentStage = "Failed";
        job.statusMessage = "Job failed";
        job.completedAt = now;
        clearLease(job);
        return true;
      }
      job.status = JobStatus::Running;
      job.attempts += 1;
      if (!job.startedAt) job.startedAt = now;
      job.completedAt.reset();
      job.currentStage = "Starting";
      job.statusMessage =
          "Attempt " + std::to_string(job.attempts) + " of " + std::to_string(job.maxAttempts);
      if (takeover) {
        job.statusMessage += " (the lease of " + job.leaseOwner + " expired)";
      }
      if (lease.length.count() > 0) {
        job.leaseOwner = lease.owner;
        job.leaseToken = core::newLeaseToken();
        job.leaseMillis = lease.length.count();
        job.leaseExpiresAt = now + job.leaseMillis;
      } else {
        clearLease(job);
      }
      return true;
    });
    if (!claimed) return std::nullopt;
    if (previous == JobStatus::Pending) observeQueueWait(claimed->job, queuedSince);
    recorded(*claimed, previous);
    if (claimed->job.status != JobStatus::Running) continue;
    if (previous == JobStatus::Running) {
      spdlog::warn("job {}: taken over by {} ({})", claimed->job.id, claimed->job.leaseOwner,
                   claimed->job.statusMessage);
    }
    return std::move(claimed->job);
  }
  return std::nullopt;
}

ReportResult ProgressService::retryLaterNow(const std::string& jobId, const std::string& error,
                                            std::chrono::milliseconds delay,
                                            const std::string& leaseToken) {
  auto result = change(
      jobId, Accepts::Open,
      [&](model::Job& job) {
        clearLease(job);
        job.status = JobStatus::Pending;
        job.availableAt = nowMillis() + delay.count();
        job.errorMessage = error;
        job.currentStage = "Waiting to retry";
        job.statusMessage = "Attempt " + std::to_string(job.attempts) + " failed (" + error +
                            "); retrying in " + std::to_string((delay.count() + 999) / 1000) + " s";
        return true;
      },
      &leaseToken);
  if (result.outcome == ReportOutcome::Recorded) {
    spdlog::warn("job {}: {}", jobId, result.job.statusMessage);
  }
  return result;
}

ReportResult ProgressService::requeueNow(const std::string& jobId) {
  // Only ended jobs can be retried; anything else is answered AlreadyFinished (409).
  auto result = change(jobId, Accepts::Ended, [this](model::Job& job) {
    clearLease(job);
    job.status = JobStatus::Pending;
    job.attempts = 0;
    job.availableAt = nowMillis();
    job.progress = 0;
    job.errorMessage.reset();
    job.completedAt.reset();
    job.currentStage = "Queued";
    job.statusMessage = "Re-queued for retry";
    return true;
  });
  if (result.outcome == ReportOutcome::Recorded) queuedNow(result.job);
  return result;
}

ReportResult ProgressService::giveBackNow(const std::string& jobId, const std::string& leaseToken,
                                          const std::string& why) {
  auto result = change(
      jobId, Accepts::Open,
      [&](model::Job& job) {
        clearLease(job);
        job.status = JobStatus::Pending;
        // Interrupted on purpose, not failed: the attempt is not one of its tries.
        job.attempts = std::max(job.attempts - 1, 0);
        job.availableAt = nowMillis();
        job.currentStage = "Queued";
        job.statusMessage = "Given back: " + why;
        return true;
      },
      &leaseToken);
  if (result.outcome == ReportOutcome::Recorded) queuedNow(result.job);
  return result;
}

std::vector<std::string> ProgressService::recoverInterruptedNow(
    const std::function<bool(const model::Job&)>& keepRunning,
    const std::function<bool(const std::string&)>& ownerGone) {
  std::vector<std::string> requeued;
  const auto startedAt = nowMillis();
  // Someone else's live lease: that node runs the job (or its expiry will hand it over).
  auto heldElsewhere = [&](const model::Job& job) {
    if (job.leaseToken.empty() || (ownerGone && ownerGone(job.leaseOwner))) return false;
    return job.leaseExpiresAt == 0 || job.leaseExpiresAt > startedAt;
  };
  // Every Running job, a page at a time (newest first). A recovered job leaves the Running
  // set and a skipped one (an external worker's, a live lease, a waiting pipeline job)
  // stays in it, ahead of the jobs not seen yet: so the next page starts after the ones
  // skipped so far. Looking at the first page only left an interrupted job Running for
  // good behind a thousand newer external jobs.
  storage::JobFilter filter;
  filter.status = JobStatus::Running;
  filter.limit = kRecoveryPage;
  for (;;) {
    const auto page = store().listJobs(filter);
    filter.offset += static_cast<int>(recoverPage(page, keepRunning, heldElsewhere, requeued));
    if (page.size() < static_cast<std::size_t>(kRecoveryPage)) break;
  }
  return requeued;
}

std::size_t ProgressService::recoverPage(
    const std::vector<model::Job>& page, const std::function<bool(const model::Job&)>& keepRunning,
    const std::function<bool(const model::Job&)>& heldElsewhere,
    std::vector<std::string>& requeued) {
  std::size_t skipped = 0;
  for (const auto& found : page) {
    if (found.runner != model::kRunnerHerald || keepRunning(found) || heldElsewhere(found)) {
      ++skipped;
      continue;
    }
    JobStatus previous = JobStatus::Running;
    auto changed = store().updateJob(found.id, [&](model::Job& job) {
      if (job.status != JobStatus::Running || heldElsewhere(job)) return false;  // changed since
      previous = job.status;
      clearLease(job);
      const auto now = nowMillis();
      if (job.attempts >= job.maxAttempts) {
        job.status = JobStatus::Failed;
        job.errorMessage = "The job was interrupted " + std::to_string(job.attempts) +
                           " times (the server stopped while it ran); giving up";
        job.currentStage = "Failed";
        job.completedAt = now;
      } else {
        job.status = JobStatus::Pending;
        job.availableAt = now;
        job.currentStage = "Queued";
        job.statusMessage = "Re-queued after the server restarted";
      }
      job.updatedAt = now;
      return true;
    });
    if (changed.outcome != JobChange::Outcome::Updated) {
      // Still Running (changed since it was listed): it stays in the set like a skipped one.
      if (changed.job.status == JobStatus::Running) ++skipped;
      continue;
    }
    if (changed.job.status == JobStatus::Pending) requeued.push_back(changed.job.id);
    recorded(changed, previous);
    queuedNow(changed.job);
    spdlog::info("job {}: found Running at start-up: {}", changed.job.id,
                 model::toString(changed.job.status));
  }
  return skipped;
}

}  // namespace herald::jobs
