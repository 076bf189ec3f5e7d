#include "jobs/progress_service.h"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

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
  return onStore([this, spec = std::move(spec)](storage::Store&) { return createJobNow(spec); });
}

asio::awaitable<ReportResult> ProgressService::report(std::string jobId, ProgressReport report) {
  return onStore([this, jobId = std::move(jobId), report = std::move(report)](storage::Store&) {
    return reportNow(jobId, report);
  });
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
  auto current = store_.getJob(jobId);
  if (!current) {
    result.outcome = ReportOutcome::NotFound;
    return result;
  }
  model::Job job = std::move(*current);
  if (model::isTerminal(job.status)) {
    result.outcome = ReportOutcome::AlreadyFinished;
    result.job = std::move(job);
    return result;
  }
  const auto previous = job.status;
  const auto now = core::nowMillis();
  // A report without a status means work is under way.
  auto status = r.status.value_or(JobStatus::Running);
  if (status == JobStatus::Pending && previous == JobStatus::Running) status = previous;
  job.status = status;
  if (r.progress) job.progress = std::clamp(*r.progress, 0.0, 100.0);
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
  job.updatedAt = now;
  auto entry = store_.recordUpdate(job);
  stats_.updatesRecorded++;
  publishJob(job, entry, previous != job.status);
  if (!job.videoId.empty()) updateVideo(job);
  result.job = std::move(job);
  return result;
}

void ProgressService::publish(const backplane::Target& target, std::string event,
                              json::value payload, std::optional<backplane::Ordering> ordering) {
  try {
    protocol::InvocationMessage message;
    message.target = std::move(event);
    message.arguments.push_back(std::move(payload));
    backplane_.publish(target, std::move(message), std::move(ordering));
  } catch (const std::exception& e) {
    stats_.notifyFailures++;
    spdlog::error("notify {} {} failed: {}", event, target.name, e.what());
  }
}

void ProgressService::publishJob(const model::Job& job, const model::ProgressEntry& entry,
                                 bool statusChanged) {
  const auto group = backplane::Target::group("job-" + job.id);
  publish(group, "JobProgressUpdate", model::jobProgressUpdate(job, entry),
          backplane::Ordering{job.id, entry.sequence});
  if (!statusChanged) return;
  if (job.status == JobStatus::Completed || job.status == JobStatus::Failed) {
    auto event = job.status == JobStatus::Completed ? "JobCompleted" : "JobFailed";
    auto payload = job.status == JobStatus::Completed ? model::jobCompleted(job)
                                                      : model::jobFailed(job);
    publish(group, event, payload);
    if (!job.userId.empty()) publish(backplane::Target::group("user-" + job.userId), event, payload);
    spdlog::info("job {}: {}{}", job.id, model::toString(job.status),
                 job.errorMessage ? " (" + *job.errorMessage + ")" : std::string());
  }
}

void ProgressService::updateVideo(const model::Job& job) {
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
    summarise(*video);
    video->updatedAt = now;
    store_.saveVideo(*video);
    publish(backplane::Target::group("video-" + video->id), "VideoProgressUpdate",
            model::videoProgressUpdate(*video));
    bool finished = video->processingStatus == "Completed" || video->processingStatus == "Failed";
    if (finished && before != video->processingStatus && !video->userId.empty()) {
      json::object data;
      data["videoId"] = video->id;
      data["processingStatus"] = video->processingStatus;
      auto ready = video->processingStatus == "Completed";
      publish(backplane::Target::group("user-" + video->userId), "UserNotification",
              model::notification(ready ? "VideoReady" : "VideoFailed",
                                  ready ? "Video processing completed" : "Video processing failed",
                                  std::move(data)));
    }
  } catch (const std::exception& e) {
    // The job's own update is stored already; a video summary failure must not undo it.
    stats_.notifyFailures++;
    spdlog::error("job {}: updating video {} failed: {}", job.id, job.videoId, e.what());
  }
}

}  // namespace herald::jobs
