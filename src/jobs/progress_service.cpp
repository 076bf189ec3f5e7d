#include "jobs/progress_service.h"

#include <algorithm>
#include <cmath>

#include <boost/json/monotonic_resource.hpp>
#include <spdlog/spdlog.h>

#include "backplane/wakeup_batch.h"
#include "core/clock.h"
#include "core/ids.h"
#include "model/json_mapping.h"

namespace herald::jobs {

namespace asio = boost::asio;
namespace json = boost::json;
using model::JobStatus;

std::string stageNameFor(std::string_view jobType) {
  if (jobType == model::kVideoProcessing) return "Ingestion";
  if (jobType == model::kEmbeddingGeneration) return "Embedding";
  return std::string(jobType);
}

namespace {

std::string stageStatusFor(JobStatus s) {
  switch (s) {
    case JobStatus::Pending: return "Pending";
    case JobStatus::Running: return "InProgress";
    case JobStatus::Completed: return "Completed";
    case JobStatus::Failed: return "Failed";
    case JobStatus::Cancelled: return "Cancelled";
  }
  return "Pending";
}

// Recomputes the video's summary fields from its stages.
void summarise(model::Video& v) {
  double total = 0;
  bool anyFailed = false, allDone = !v.stages.empty(), anyStarted = false;
  for (const auto& s : v.stages) {
    total += s.progress;
    anyFailed |= s.status == "Failed" || s.status == "Cancelled";
    allDone &= s.status == "Completed";
    anyStarted |= s.status != "Pending";
    auto sub = s.status == "Cancelled" ? std::string("Failed") : s.status;
    if (s.name == "Transcription") v.transcriptionStatus = sub;
    if (s.name == "Embedding") v.embeddingStatus = sub;
  }
  v.overallProgress = v.stages.empty() ? 0 : std::round(total / v.stages.size() * 10) / 10;
  if (anyFailed) {
    v.processingStatus = "Failed";
  } else if (allDone) {
    v.processingStatus = "Completed";
    v.overallProgress = 100;
  } else if (anyStarted) {
    v.processingStatus = "Processing";
  } else {
    v.processingStatus = "Pending";
  }
}

}  // namespace

ProgressService::ProgressService(storage::Store& store, asio::any_io_executor storeExecutor,
                                 backplane::Backplane& backplane)
    : store_(store), storeExecutor_(std::move(storeExecutor)), backplane_(backplane) {}

asio::awaitable<model::Job> ProgressService::createJob(NewJob spec) {
  return onStoreDurable(
      [this, spec = std::move(spec)](storage::Store&) { return createJobNow(spec); });
}

asio::awaitable<ReportResult> ProgressService::report(std::string jobId, ProgressReport report) {
  return onStoreDurable([this, jobId = std::move(jobId), report = std::move(report)](
                            storage::Store&) { return reportNow(jobId, report); });
}

std::shared_ptr<ProgressService::Batch> ProgressService::joinBatch() {
  if (batch_) return batch_;
  auto batch = std::make_shared<Batch>(storeExecutor_);
  store_.beginBatch();
  batch_ = batch;
  // Runs after every task already queued on the executor: they all join this batch.
  asio::post(storeExecutor_, [this] { commitBatch(); });
  return batch;
}

void ProgressService::commitBatch() {
  auto batch = std::move(batch_);
  batch_.reset();
  if (!batch) return;
  auto notifications = std::move(deferred_);
  deferred_.clear();
  try {
    store_.commitBatch();
  } catch (const std::exception& e) {
    store_.rollbackBatch();
    batch->failed = true;
    batch->error = e.what();
    spdlog::error("store: a batch of writes failed to commit: {}", e.what());
    notifications.clear();  // nothing of it happened
  }
  {
    // Every broadcast of the batch queues its frames first; writers start after.
    backplane::WakeupBatch wakeups;
    for (auto& n : notifications) n();
  }
  batch->done.cancel();
}

model::Job ProgressService::createJobNow(NewJob spec) {
  model::Job job;
  job.id = core::newUuid();
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
  job.createdAt = job.updatedAt = core::nowMillis();
  store_.createJob(job);
  stats_.updatesRecorded++;
  spdlog::info("job {}: created ({}, video {}, user {})", job.id, job.jobType,
               job.videoId.empty() ? "-" : job.videoId, job.userId.empty() ? "-" : job.userId);
  publishJob(job, model::snapshotOf(job), false);
  if (!job.videoId.empty()) updateVideo(job);
  return job;
}

ReportResult ProgressService::reportNow(const std::string& jobId, const ProgressReport& r) {
  ReportResult result;
  model::Job job;
  if (!load(jobId, true, result, job)) return result;
  const auto previous = job.status;
  const auto now = core::nowMillis();
  // A report without a status means work is under way.
  auto status = r.status.value_or(JobStatus::Running);
  if (status == JobStatus::Pending && previous == JobStatus::Running) status = previous;
  job.status = status;
  // Tenths of a percent are as fine as any progress bar shows.
  if (r.progress) job.progress = std::round(std::clamp(*r.progress, 0.0, 100.0) * 10) / 10;
  if (r.currentStage) job.currentStage = *r.currentStage;
  if (r.statusMessage) job.statusMessage = *r.statusMessage;
  if (r.metadata) {
    for (const auto& [k, v] : *r.metadata) job.metadata[k] = v;
  }
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
  record(job, previous);
  result.job = std::move(job);
  return result;
}

void ProgressService::publish(const backplane::Target& target, const char* event,
                              json::value payload, std::optional<backplane::Ordering> ordering) {
  // The arguments share the payload's storage (a move, not a copy, even when the payload
  // lives in a monotonic resource).
  protocol::InvocationMessage message;
  message.arguments = json::array(payload.storage());
  message.arguments.push_back(std::move(payload));
  publishMessage(target, event, std::move(message), std::move(ordering));
}

void ProgressService::publishText(const backplane::Target& target, const char* event,
                                  std::string payloadJson,
                                  std::optional<backplane::Ordering> ordering) {
  protocol::InvocationMessage message;
  message.argumentsJson = std::move(payloadJson);
  publishMessage(target, event, std::move(message), std::move(ordering));
}

void ProgressService::publishMessage(const backplane::Target& target, const char* event,
                                     protocol::InvocationMessage message,
                                     std::optional<backplane::Ordering> ordering) {
  if (batch_) {
    // Not before the write it announces is committed.
    deferred_.push_back([this, target, event, message = std::move(message),
                         ordering = std::move(ordering)]() mutable {
      publishMessage(target, event, std::move(message), std::move(ordering));
    });
    return;
  }
  try {
    message.target = event;
    backplane_.publish(target, std::move(message), std::move(ordering));
  } catch (const std::exception& e) {
    stats_.notifyFailures++;
    spdlog::error("notify {} {} failed: {}", event, target.name, e.what());
  }
}

void ProgressService::publishJob(const model::Job& job, const model::ProgressEntry& entry,
                                 bool statusChanged) {
  const auto group = backplane::Target::group("job-" + job.id);
  // Written as text once: the JSON frame copies it, MessagePack parses it back.
  std::string arguments;
  arguments.reserve(512);
  arguments += '[';
  model::appendJobProgressUpdateJson(arguments, job, entry);
  arguments += ']';
  publishText(group, "JobProgressUpdate", std::move(arguments),
              backplane::Ordering{job.id, entry.sequence});
  if (!statusChanged) return;
  if (job.status == JobStatus::Completed || job.status == JobStatus::Failed) {
    auto event = job.status == JobStatus::Completed ? "JobCompleted" : "JobFailed";
    auto payload =
        job.status == JobStatus::Completed ? model::jobCompleted(job) : model::jobFailed(job);
    publish(group, event, payload);
    if (!job.userId.empty())
      publish(backplane::Target::group("user-" + job.userId), event, payload);
    spdlog::info("job {}: {}{}", job.id, model::toString(job.status),
                 job.errorMessage ? " (" + *job.errorMessage + ")" : std::string());
  }
}

void ProgressService::updateVideo(const model::Job& job) {
  // The pipeline job's own progress mirrors the video; its ingestion stage is written
  // by updateIngestionNow, not derived from the job.
  if (job.jobType == model::kVideoProcessing) return;
  try {
    auto video = store_.getVideo(job.videoId);
    const auto now = core::nowMillis();
    if (!video) {
      video.emplace();
      video->id = job.videoId;
      video->userId = job.userId;
      video->createdAt = now;
    }
    auto name = stageNameFor(job.jobType);
    auto it = std::find_if(video->stages.begin(), video->stages.end(),
                           [&](const auto& s) { return s.name == name; });
    if (it == video->stages.end()) {
      model::VideoStage stage;
      stage.name = name;
      video->stages.push_back(std::move(stage));
      it = std::prev(video->stages.end());
    }
    const auto before = video->processingStatus;
    it->status = stageStatusFor(job.status);
    it->progress = job.progress;
    if (job.startedAt && !it->startedAt) it->startedAt = job.startedAt;
    if (model::isTerminal(job.status)) it->completedAt = job.completedAt;
    it->errorMessage = job.status == JobStatus::Failed ? job.errorMessage : std::nullopt;
    activeStage_ = name;
    activeMessage_ = job.currentStage;
    finishVideoUpdate(*video, before);
    activeMessage_.clear();
    activeStage_.clear();
  } catch (const std::exception& e) {
    // The job's own update is stored already; a video summary failure must not undo it.
    stats_.notifyFailures++;
    spdlog::error("job {}: updating video {} failed: {}", job.id, job.videoId, e.what());
  }
}

void ProgressService::finishVideoUpdate(model::Video& video, const std::string& before) {
  summarise(video);
  video.updatedAt = core::nowMillis();
  store_.saveVideo(video);
  publish(backplane::Target::group("video-" + video.id), "VideoProgressUpdate",
          model::videoProgressUpdate(video));
  bool finished = video.processingStatus == "Completed" || video.processingStatus == "Failed";
  if (finished && before != video.processingStatus && !video.userId.empty()) {
    json::object data;
    data["videoId"] = video.id;
    data["processingStatus"] = video.processingStatus;
    auto ready = video.processingStatus == "Completed";
    publish(backplane::Target::group("user-" + video.userId), "UserNotification",
            model::notification(ready ? "VideoReady" : "VideoFailed",
                                ready ? "Video processing completed" : "Video processing failed",
                                std::move(data)));
  }
  syncPipelineJob(video);
}

void ProgressService::syncPipelineJob(const model::Video& video) {
  storage::JobFilter filter;
  filter.videoId = video.id;
  filter.limit = 1000;
  for (auto& job : store_.listJobs(filter)) {
    if (job.jobType != model::kVideoProcessing || model::isTerminal(job.status)) continue;
    if (job.status != JobStatus::Running) continue;  // not started yet: its worker reports
    const auto previous = job.status;
    model::Job updated = job;
    // A re-run stage (after a crash or retry) restarts at 0; the pipeline's own bar does
    // not go backwards while it runs.
    updated.progress = std::max(job.progress, video.overallProgress);
    // Describe the stage that is moving: the first one not finished.
    const model::VideoStage* active = nullptr;
    for (const auto& s : video.stages) {
      if (s.status != "Completed") {
        active = &s;
        break;
      }
    }
    if (video.processingStatus == "Completed") {
      updated.status = JobStatus::Completed;
      updated.progress = 100;
      updated.currentStage = "Completed";
      updated.statusMessage = "Video processing completed";
      updated.completedAt = core::nowMillis();
    } else if (video.processingStatus == "Failed" &&
               std::any_of(video.stages.begin(), video.stages.end(),
                           [](const auto& s) { return s.status == "Cancelled"; })) {
      updated.status = JobStatus::Cancelled;
      updated.currentStage = "Cancelled";
      updated.statusMessage = "Video processing was cancelled";
      updated.completedAt = core::nowMillis();
    } else if (video.processingStatus == "Failed") {
      updated.status = JobStatus::Failed;
      updated.currentStage = "Failed";
      std::string error = "A processing stage failed";
      for (const auto& s : video.stages) {
        if ((s.status == "Failed" || s.status == "Cancelled")) {
          error = s.name + " " +
                  (s.status == "Cancelled" ? std::string("was cancelled")
                                           : "failed: " + s.errorMessage.value_or("unknown error"));
          break;
        }
      }
      updated.errorMessage = error;
      updated.statusMessage = "Video processing failed";
      updated.completedAt = core::nowMillis();
    } else if (active) {
      updated.currentStage = active->name;
      if (active->name == "Ingestion" && !ingestionMessage_.empty()) {
        updated.statusMessage = ingestionMessage_;
      } else if (!activeMessage_.empty() && active->status == "InProgress" &&
                 active->name == activeStage_) {
        updated.statusMessage = active->name + ": " + activeMessage_;
      } else {
        updated.statusMessage = active->name + " " + active->status;
      }
    }
    if (updated.status == job.status && updated.progress == job.progress &&
        updated.currentStage == job.currentStage && updated.statusMessage == job.statusMessage) {
      continue;  // nothing a client would see changed
    }
    updated.updatedAt = core::nowMillis();
    auto entry = store_.recordUpdate(updated);
    stats_.updatesRecorded++;
    publishJob(updated, entry, previous != updated.status);
  }
}

// Loads a job for a change. False (with `result` saying why) when it does not exist or,
// with `requireOpen`, has ended already.
bool ProgressService::load(const std::string& jobId, bool requireOpen, ReportResult& result,
                           model::Job& job) {
  auto current = store_.getJob(jobId);
  if (!current) {
    result.outcome = ReportOutcome::NotFound;
    return false;
  }
  job = std::move(*current);
  if (requireOpen && model::isTerminal(job.status)) {
    result.outcome = ReportOutcome::AlreadyFinished;
    result.job = job;
    return false;
  }
  return true;
}

// Stores the job's new state as the next entry of its history and publishes it.
void ProgressService::record(model::Job& job, JobStatus previous) {
  job.updatedAt = core::nowMillis();
  auto entry = store_.recordUpdate(job);
  stats_.updatesRecorded++;
  publishJob(job, entry, previous != job.status);
  if (!job.videoId.empty()) updateVideo(job);
}

std::optional<model::Job> ProgressService::claimNextNow() {
  auto next = store_.nextRunnableJob(core::nowMillis());
  if (!next) return std::nullopt;
  auto job = std::move(*next);
  const auto now = core::nowMillis();
  job.status = JobStatus::Running;
  job.attempts += 1;
  if (!job.startedAt) job.startedAt = now;
  job.completedAt.reset();
  job.currentStage = "Starting";
  job.statusMessage =
      "Attempt " + std::to_string(job.attempts) + " of " + std::to_string(job.maxAttempts);
  job.updatedAt = now;
  auto entry = store_.recordUpdate(job);
  stats_.updatesRecorded++;
  publishJob(job, entry, true);
  if (!job.videoId.empty()) updateVideo(job);
  return job;
}

ReportResult ProgressService::retryLaterNow(const std::string& jobId, const std::string& error,
                                            std::chrono::milliseconds delay) {
  ReportResult result;
  model::Job job;
  if (!load(jobId, true, result, job)) return result;
  const auto now = core::nowMillis();
  const auto previous = job.status;
  job.status = JobStatus::Pending;
  job.availableAt = now + delay.count();
  job.errorMessage = error;
  job.currentStage = "Waiting to retry";
  job.statusMessage = "Attempt " + std::to_string(job.attempts) + " failed (" + error +
                      "); retrying in " + std::to_string((delay.count() + 999) / 1000) + " s";
  record(job, previous);
  spdlog::warn("job {}: {}", job.id, job.statusMessage);
  result.job = std::move(job);
  return result;
}

ReportResult ProgressService::requeueNow(const std::string& jobId) {
  ReportResult result;
  model::Job job;
  if (!load(jobId, false, result, job)) return result;
  if (job.status != JobStatus::Failed && job.status != JobStatus::Cancelled) {
    result.outcome = ReportOutcome::AlreadyFinished;  // only ended jobs can be retried
    result.job = std::move(job);
    return result;
  }
  const auto now = core::nowMillis();
  const auto previous = job.status;
  job.status = JobStatus::Pending;
  job.attempts = 0;
  job.availableAt = now;
  job.progress = 0;
  job.errorMessage.reset();
  job.completedAt.reset();
  job.currentStage = "Queued";
  job.statusMessage = "Re-queued for retry";
  record(job, previous);
  result.job = std::move(job);
  return result;
}

std::vector<std::string> ProgressService::recoverInterruptedNow(
    const std::function<bool(const model::Job&)>& keepRunning) {
  std::vector<std::string> requeued;
  storage::JobFilter filter;
  filter.status = JobStatus::Running;
  filter.limit = 1000;
  for (auto& job : store_.listJobs(filter)) {
    if (job.runner != model::kRunnerHerald || keepRunning(job)) continue;
    const auto now = core::nowMillis();
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
      requeued.push_back(job.id);
    }
    job.updatedAt = now;
    auto entry = store_.recordUpdate(job);
    publishJob(job, entry, true);
    if (!job.videoId.empty()) updateVideo(job);
    spdlog::info("job {}: found Running at start-up: {}", job.id, model::toString(job.status));
  }
  return requeued;
}

void ProgressService::updateIngestionNow(const std::string& videoId, const std::string& status,
                                         double progress, const std::string& message,
                                         std::optional<std::string> error) {
  auto video = store_.getVideo(videoId);
  if (!video) return;
  const auto before = video->processingStatus;
  auto it = std::find_if(video->stages.begin(), video->stages.end(),
                         [](const auto& s) { return s.name == "Ingestion"; });
  if (it == video->stages.end()) {
    model::VideoStage stage;
    stage.name = "Ingestion";
    video->stages.insert(video->stages.begin(), std::move(stage));
    it = video->stages.begin();
  }
  const auto now = core::nowMillis();
  it->status = status;
  it->progress = progress;
  if (!it->startedAt && status != "Pending") it->startedAt = now;
  if (status == "Completed" || status == "Failed" || status == "Cancelled") it->completedAt = now;
  it->errorMessage = std::move(error);
  ingestionMessage_ = message;
  finishVideoUpdate(*video, before);
  ingestionMessage_.clear();
}

void ProgressService::saveVideoNow(model::Video video) {
  const auto before = store_.getVideo(video.id);
  finishVideoUpdate(video, before ? before->processingStatus : std::string("Pending"));
}

}  // namespace herald::jobs
