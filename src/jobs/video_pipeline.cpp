#include "jobs/video_pipeline.h"

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/ids.h"
#include "jobs/progress_service.h"

namespace herald::jobs {

using model::JobStatus;
using model::StageStatus;

namespace {

StageStatus stageStatusFor(JobStatus s) {
  switch (s) {
    case JobStatus::Pending: return StageStatus::Pending;
    case JobStatus::Running: return StageStatus::InProgress;
    case JobStatus::Completed: return StageStatus::Completed;
    case JobStatus::Failed: return StageStatus::Failed;
    case JobStatus::Cancelled: return StageStatus::Cancelled;
  }
  return StageStatus::Pending;
}

bool stageEnded(StageStatus s) {
  return s == StageStatus::Completed || s == StageStatus::Failed || s == StageStatus::Cancelled;
}

bool stageBroken(StageStatus s) { return s == StageStatus::Failed || s == StageStatus::Cancelled; }

model::TranscriptionStatus transcriptionFrom(StageStatus s) {
  switch (s) {
    case StageStatus::Pending: return model::TranscriptionStatus::Pending;
    case StageStatus::InProgress: return model::TranscriptionStatus::InProgress;
    case StageStatus::Completed: return model::TranscriptionStatus::Completed;
    case StageStatus::Failed:
    case StageStatus::Cancelled: return model::TranscriptionStatus::Failed;
  }
  return model::TranscriptionStatus::Pending;
}

model::EmbeddingStatus embeddingFrom(StageStatus s) {
  switch (s) {
    case StageStatus::Pending: return model::EmbeddingStatus::Pending;
    case StageStatus::InProgress: return model::EmbeddingStatus::InProgress;
    case StageStatus::Completed: return model::EmbeddingStatus::Completed;
    case StageStatus::Failed:
    case StageStatus::Cancelled: return model::EmbeddingStatus::Failed;
  }
  return model::EmbeddingStatus::Pending;
}

// Recomputes the video's summary fields from its stages.
void summarise(model::Video& v) {
  double total = 0;
  bool anyBroken = false, allDone = !v.stages.empty(), anyStarted = false;
  for (const auto& s : v.stages) {
    total += s.progress;
    anyBroken |= stageBroken(s.status);
    allDone &= s.status == StageStatus::Completed;
    anyStarted |= s.status != StageStatus::Pending;
    if (s.name == model::kTranscriptionStage) v.transcriptionStatus = transcriptionFrom(s.status);
    if (s.name == model::kEmbeddingStage) v.embeddingStatus = embeddingFrom(s.status);
  }
  v.overallProgress =
      v.stages.empty() ? 0 : std::round(total / static_cast<double>(v.stages.size()) * 10) / 10;
  if (anyBroken) {
    v.processingStatus = model::ProcessingStatus::Failed;
  } else if (allDone) {
    v.processingStatus = model::ProcessingStatus::Completed;
    v.overallProgress = 100;
  } else if (anyStarted) {
    v.processingStatus = model::ProcessingStatus::Processing;
  } else {
    v.processingStatus = model::ProcessingStatus::Pending;
  }
}

bool finished(model::ProcessingStatus s) {
  return s == model::ProcessingStatus::Completed || s == model::ProcessingStatus::Failed;
}

// The error the pipeline job ends with: the first broken stage's.
std::string pipelineError(const model::Video& video) {
  for (const auto& s : video.stages) {
    if (s.status == StageStatus::Cancelled) return s.name + " was cancelled";
    if (s.status == StageStatus::Failed) {
      return s.name + " failed: " + s.errorMessage.value_or("unknown error");
    }
  }
  return "A processing stage failed";
}

}  // namespace

std::string VideoPipeline::stageNameFor(std::string_view jobType) {
  if (jobType == model::kVideoProcessing) return std::string(model::kIngestionStage);
  if (jobType == model::kEmbeddingGeneration) return std::string(model::kEmbeddingStage);
  return std::string(jobType);
}

bool VideoPipeline::ingestionDone(const model::Video& video) {
  const auto* s = video.stage(model::kIngestionStage);
  return s && s->status == StageStatus::Completed;
}

model::Job VideoPipeline::createNow(NewVideo spec) {
  auto& store = service_.store();
  model::Video video;
  video.id = spec.id.empty() ? core::newUuid() : spec.id;
  video.userId = spec.userId;
  video.url = spec.url;
  video.createdAt = video.updatedAt = service_.nowMillis();
  for (auto name : {model::kIngestionStage, model::kTranscriptionStage, model::kEmbeddingStage}) {
    if ((name == model::kTranscriptionStage && !spec.transcribe) ||
        (name == model::kEmbeddingStage && !(spec.transcribe && spec.embed))) {
      continue;
    }
    model::VideoStage stage;
    stage.name = std::string(name);
    video.stages.push_back(std::move(stage));
  }
  summarise(video);
  store.saveVideo(video);
  NewJob job;
  job.jobType = std::string(model::kVideoProcessing);
  job.videoId = video.id;
  job.userId = std::move(spec.userId);
  job.priority = spec.priority;
  job.maxAttempts = spec.maxAttempts;
  job.runner = std::string(model::kRunnerHerald);
  job.metadata = std::move(spec.metadata);
  return service_.createJobNow(std::move(job));
}

bool VideoPipeline::pipelineStage(std::string_view name) {
  return name == model::kIngestionStage || name == model::kTranscriptionStage ||
         name == model::kEmbeddingStage;
}

int VideoPipeline::customStages(const model::Video& video) {
  return static_cast<int>(std::count_if(video.stages.begin(), video.stages.end(),
                                        [](const auto& s) { return !pipelineStage(s.name); }));
}

void VideoPipeline::checkStageLimitNow(const std::string& videoId, std::string_view jobType) {
  const auto name = stageNameFor(jobType);
  if (jobType == model::kVideoProcessing || pipelineStage(name)) return;
  auto video = service_.store().getVideo(videoId);
  if (!video || video->hasStage(name)) return;
  const int limit = service_.limits().maxCustomStagesPerVideo;
  if (customStages(*video) < limit) return;
  throw JobRefused("jobType", "too_many_stages",
                   "video " + videoId + " already has " + std::to_string(limit) +
                       " stages besides Ingestion, Transcription and Embedding (one per job "
                       "type); a job of a new type '" +
                       std::string(jobType) +
                       "' would add another. The limit is Jobs:MaxCustomStagesPerVideo.");
}

void VideoPipeline::jobChangedNow(const model::Job& job) {
  if (job.videoId.empty() || job.jobType == model::kVideoProcessing) return;
  const auto name = stageNameFor(job.jobType);
  changeVideo(
      job.videoId,
      [&](std::optional<model::Video>& video) {
        if (!video) {
          // A worker's job on a video Herald has not seen: the video starts here.
          video.emplace();
          video->id = job.videoId;
          video->userId = job.userId;
          video->createdAt = service_.nowMillis();
        }
        auto* stage = video->stage(name);
        if (!stage) {
          // createJobNow refuses a job past the limit; this holds it against jobs created
          // before the limit existed or by two nodes at once. The job goes on, its video
          // just shows no stage for it.
          if (!pipelineStage(name) &&
              customStages(*video) >= service_.limits().maxCustomStagesPerVideo) {
            return false;
          }
          model::VideoStage s;
          s.name = name;
          video->stages.push_back(std::move(s));
          stage = &video->stages.back();
        }
        stage->status = stageStatusFor(job.status);
        stage->progress = job.progress;
        if (job.startedAt && !stage->startedAt) stage->startedAt = job.startedAt;
        if (model::isTerminal(job.status)) stage->completedAt = job.completedAt;
        stage->errorMessage =
            job.status == JobStatus::Failed ? job.errorMessage : std::optional<std::string>();
        return true;
      },
      StageNote{name, job.currentStage});
}

void VideoPipeline::updateIngestionNow(const std::string& videoId, StageStatus status,
                                       double progress, const std::string& message,
                                       std::optional<std::string> error) {
  changeVideo(
      videoId,
      [&](std::optional<model::Video>& video) {
        if (!video) return false;
        auto* stage = video->stage(model::kIngestionStage);
        if (!stage) {
          model::VideoStage s;
          s.name = std::string(model::kIngestionStage);
          video->stages.insert(video->stages.begin(), std::move(s));
          stage = &video->stages.front();
        }
        const auto now = service_.nowMillis();
        stage->status = status;
        stage->progress = progress;
        if (!stage->startedAt && status != StageStatus::Pending) stage->startedAt = now;
        if (stageEnded(status)) stage->completedAt = now;
        stage->errorMessage = std::move(error);
        return true;
      },
      StageNote{model::kIngestionStage, message});
}

void VideoPipeline::recordMediaNow(const std::string& videoId, const std::string& title,
                                   double durationSeconds) {
  service_.store().updateVideo(videoId, [&](std::optional<model::Video>& video) {
    if (!video) return false;
    video->title = title;
    video->durationSeconds = durationSeconds;
    return true;
  });
}

bool VideoPipeline::queueStageJobNow(const model::Job& parent, std::string_view jobType,
                                     boost::json::object metadata, int maxAttempts) {
  auto video = service_.store().getVideo(parent.videoId);
  if (!video || !video->hasStage(stageNameFor(jobType))) return false;
  NewJob spec;
  spec.jobType = std::string(jobType);
  spec.videoId = parent.videoId;
  spec.userId = parent.userId;
  spec.priority = parent.priority;
  spec.maxAttempts = maxAttempts;
  spec.runner = std::string(model::kRunnerHerald);
  metadata["parentJobId"] = parent.id;
  spec.metadata = std::move(metadata);
  service_.createJobNow(std::move(spec));
  return true;
}

void VideoPipeline::changeVideo(const std::string& videoId,
                                const std::function<bool(std::optional<model::Video>&)>& mutate,
                                const StageNote& note) {
  try {
    model::ProcessingStatus before = model::ProcessingStatus::Pending;
    bool changed = false;
    auto video = service_.store().updateVideo(videoId, [&](std::optional<model::Video>& v) {
      if (v) before = v->processingStatus;
      if (!mutate(v) || !v) return false;
      summarise(*v);
      v->updatedAt = service_.nowMillis();
      changed = true;
      return true;
    });
    if (!changed || !video) return;
    auto transition = VideoTransition::None;
    if (finished(video->processingStatus) && before != video->processingStatus &&
        !video->userId.empty()) {
      transition = video->processingStatus == model::ProcessingStatus::Completed
                       ? VideoTransition::Ready
                       : VideoTransition::Failed;
    }
    service_.announce(service_.events_.videoChanged(*video, transition));
    syncPipelineJob(*video, note);
  } catch (const std::exception& e) {
    // The job's own update is stored already; a video summary failure must not undo it.
    service_.stats_.notifyFailures++;
    spdlog::error("video {}: updating its stages failed: {}", videoId, e.what());
  }
}

void VideoPipeline::syncPipelineJob(const model::Video& video, const StageNote& note) {
  // The video's pipeline job (one, unless an older Herald made more), looked for among
  // all the video's jobs however many they are: a page at a time, by keyset. Reading only
  // the newest thousand missed a pipeline job with a thousand newer jobs on its video, and
  // it was never finished.
  storage::JobFilter filter;
  filter.videoId = video.id;
  filter.jobType = std::string(model::kVideoProcessing);
  filter.limit = 1000;
  storage::forEachJob(service_.store(), filter, [&](const model::Job& candidate) {
    if (candidate.status != JobStatus::Running) return;  // not started: its worker reports
    JobStatus previous = candidate.status;
    auto change = service_.store().updateJob(candidate.id, [&](model::Job& job) {
      if (job.status != JobStatus::Running) return false;
      previous = job.status;
      // What a client sees of the job, to tell whether anything changed (not a copy of
      // the whole job: its metadata may be large).
      const auto progressBefore = job.progress;
      const auto stageBefore = job.currentStage;
      const auto messageBefore = job.statusMessage;
      const auto now = service_.nowMillis();
      // A re-run stage (after a crash or retry) restarts at 0; the pipeline's own bar
      // does not go backwards while it runs.
      job.progress = std::max(job.progress, video.overallProgress);
      // Describe the stage that is moving: the first one not finished.
      const model::VideoStage* active = nullptr;
      for (const auto& s : video.stages) {
        if (s.status != StageStatus::Completed) {
          active = &s;
          break;
        }
      }
      const bool cancelled = std::any_of(video.stages.begin(), video.stages.end(), [](auto& s) {
        return s.status == StageStatus::Cancelled;
      });
      if (video.processingStatus == model::ProcessingStatus::Completed) {
        job.status = JobStatus::Completed;
        job.progress = 100;
        job.currentStage = "Completed";
        job.statusMessage = "Video processing completed";
        job.completedAt = now;
      } else if (video.processingStatus == model::ProcessingStatus::Failed && cancelled) {
        job.status = JobStatus::Cancelled;
        job.currentStage = "Cancelled";
        job.statusMessage = "Video processing was cancelled";
        job.completedAt = now;
      } else if (video.processingStatus == model::ProcessingStatus::Failed) {
        job.status = JobStatus::Failed;
        job.currentStage = "Failed";
        job.errorMessage = pipelineError(video);
        job.statusMessage = "Video processing failed";
        job.completedAt = now;
      } else if (active) {
        job.currentStage = active->name;
        if (active->name == model::kIngestionStage && note.stage == model::kIngestionStage &&
            !note.message.empty()) {
          job.statusMessage = std::string(note.message);
        } else if (!note.message.empty() && active->status == StageStatus::InProgress &&
                   active->name == note.stage) {
          job.statusMessage = active->name + ": " + std::string(note.message);
        } else {
          job.statusMessage = active->name + " " + std::string(model::toString(active->status));
        }
      }
      if (job.status == previous && job.progress == progressBefore &&
          job.currentStage == stageBefore && job.statusMessage == messageBefore) {
        return false;  // nothing a client would see changed
      }
      job.updatedAt = now;
      return true;
    });
    if (change.outcome == storage::JobChange::Outcome::Updated) {
      service_.recorded(change, previous, /*moveVideo=*/false);
    }
  });
}

}  // namespace herald::jobs
