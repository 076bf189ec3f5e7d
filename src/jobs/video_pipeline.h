#pragma once
// A video's pipeline bookkeeping: which stages it has, how each job on the video moves
// its stage, the video's summary (processing, transcription and embedding status, overall
// progress), and the VideoProcessing job that stands for the whole pipeline (its progress
// is the video's; it ends when the last stage does).
//
// Every change is a read-modify-write of the stored video (Store::updateVideo), so two
// writers (threads or nodes) moving different stages of one video cannot undo each
// other's stage.
//
// Thread safety: a lane of the ProgressService (which owns it) only: the video's lane,
// or the lane that claimed one of its jobs.
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "model/job.h"
#include "model/video.h"

namespace herald::jobs {

class ProgressService;

struct NewVideo {
  std::string id;  // empty: a new UUID (ingestVideo fills it in first to pick its lane)
  std::string url;
  std::string userId;
  int priority = 0;
  int maxAttempts = 3;
  bool transcribe = true;        // the pipeline runs a Transcription stage
  bool embed = true;             // ... and an Embedding stage after it
  boost::json::object metadata;  // the pipeline job's (source, path, ...)
};

class VideoPipeline {
 public:
  explicit VideoPipeline(ProgressService& service) : service_(service) {}

  // Creates the video with the stages its pipeline will run, and its VideoProcessing
  // job (returned).
  model::Job createNow(NewVideo spec);
  // A job on a video changed: the video's stage for the job's type follows it. The
  // pipeline job itself is not a stage (its Ingestion stage is updateIngestionNow's).
  void jobChangedNow(const model::Job& job);
  // The pipeline's own Ingestion stage (the VideoProcessing job's work).
  void updateIngestionNow(const std::string& videoId, model::StageStatus status, double progress,
                          const std::string& message,
                          std::optional<std::string> error = std::nullopt);
  // What ingestion found out about the media.
  void recordMediaNow(const std::string& videoId, const std::string& title, double durationSeconds);
  // Queues the pipeline's job of `jobType` (Transcription after ingestion, ...) when
  // the video has the stage for it; returns whether it did.
  bool queueStageJobNow(const model::Job& parent, std::string_view jobType,
                        boost::json::object metadata, int maxAttempts);

  // Throws JobRefused when a job of `jobType` would add a stage to the video past
  // Jobs:MaxCustomStagesPerVideo (createJobNow asks before it writes anything).
  void checkStageLimitNow(const std::string& videoId, std::string_view jobType);

  // The video stage a job type drives (Transcription -> Transcription, ...).
  static std::string stageNameFor(std::string_view jobType);
  // A pipeline job whose ingestion finished only waits for its children.
  static bool ingestionDone(const model::Video& video);
  // Ingestion, Transcription or Embedding: the stages the pipeline itself runs.
  static bool pipelineStage(std::string_view name);
  // Stages of `video` that are not pipeline stages (one per other job type).
  static int customStages(const model::Video& video);

 private:
  // Describes the stage that moved, for the pipeline job's status message.
  struct StageNote {
    std::string_view stage;
    std::string_view message;
  };
  void changeVideo(const std::string& videoId,
                   const std::function<bool(std::optional<model::Video>&)>& mutate,
                   const StageNote& note);
  void syncPipelineJob(const model::Video& video, const StageNote& note);

  ProgressService& service_;
};

}  // namespace herald::jobs
