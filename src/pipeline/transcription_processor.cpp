// Transcription: ffmpeg extracts 16 kHz mono audio, the recogniser turns it into timed
// segments, the segments are stored; then embedding generation is queued. Reports the
// flow of spec section 4: 0 starting, 10 extracting (moving with ffmpeg's own progress),
// 30 extracted, 40 transcribing (moving with the recogniser), 70 transcribed, 85 saving,
// 100 completed (recorded by the engine).
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "jobs/progress_service.h"
#include "pipeline/audio_extractor.h"
#include "pipeline/errors.h"
#include "pipeline/processors.h"

namespace herald::pipeline {

namespace fs = std::filesystem;

namespace {

std::string formatDuration(double seconds) {
  char buf[32];
  int total = static_cast<int>(std::lround(seconds));
  std::snprintf(buf, sizeof buf, "%d:%02d", total / 60, total % 60);
  return buf;
}

class TranscriptionProcessor final : public jobs::Processor {
 public:
  explicit TranscriptionProcessor(std::shared_ptr<PipelineContext> ctx) : ctx_(std::move(ctx)) {}

  jobs::Outcome run(jobs::JobContext& job) override {
    const auto& md = job.job.metadata;
    auto* mediaValue = md.if_contains("mediaPath");
    if (!mediaValue || !mediaValue->is_string()) {
      throw jobs::PermanentError("the transcription job names no media file");
    }
    // Only Herald's own downloads or allowed local files: the path comes from metadata,
    // which reports can change after the job was queued.
    const std::string media = allowedMediaPath(ctx_->options, std::string(mediaValue->as_string()));
    double duration = 0;
    if (auto* d = md.if_contains("durationSeconds"); d && d->is_number())
      duration = d->to_number<double>();
    auto& progress = job.progress;

    progress.report(0, "Starting transcription process", "Preparing to transcribe");
    auto dir = fs::path(ctx_->options.dataDir) / "media" / job.job.videoId;
    fs::create_directories(dir);
    auto wav = (dir / ("audio-" + job.job.id + ".wav")).string();
    struct Cleanup {
      std::string path;
      ~Cleanup() {
        std::error_code ec;
        fs::remove(path, ec);
      }
    } cleanup{wav};

    progress.report(10, "Extracting audio", "Extracting 16 kHz mono audio with ffmpeg");
    try {
      extractAudio(
          media, wav, duration,
          [&](double f) {
            progress.report(10 + 20 * std::min(f, 0.99), "Extracting audio",
                            "Extracting audio: " + std::to_string(static_cast<int>(f * 100)) + "%");
          },
          &job.cancel, ctx_->options.ffmpeg);
    } catch (const MediaError& e) {
      throw jobs::PermanentError(std::string("audio extraction failed: ") + e.what());
    }
    progress.report(30, "Audio extraction completed", "Duration: " + formatDuration(duration));

    progress.report(40, "Transcribing audio",
                    "Recognising speech with " + ctx_->recognizer->name());
    std::vector<Segment> segments;
    try {
      segments = ctx_->recognizer->transcribe(
          wav,
          [&](double f) {
            progress.report(
                40 + 30 * std::min(f, 0.99), "Transcribing audio",
                "Recognised " + std::to_string(static_cast<int>(f * 100)) + "% of the audio");
          },
          &job.cancel);
    } catch (const MediaError& e) {
      throw jobs::PermanentError(std::string("transcription failed: ") + e.what());
    } catch (const ModelError& e) {
      throw jobs::PermanentError(std::string("the speech model is unusable: ") + e.what());
    }
    progress.report(70, "Transcription completed",
                    "Transcribed " + std::to_string(segments.size()) + " segments");

    progress.report(85, "Saving transcript segments",
                    "Saving " + std::to_string(segments.size()) + " segments");
    std::vector<model::TranscriptSegment> rows;
    rows.reserve(segments.size());
    for (auto& s : segments) rows.push_back({s.start, s.end, std::move(s.text)});
    auto& service = job.service;
    // The transcript and the next stage's job in one step on the video's lane, and only
    // while this attempt holds the lease: a node whose lease was taken over (it stalled
    // past the expiry) must not overwrite the new attempt's transcript or queue a second
    // Embedding job.
    auto queued = service.onStoreFenced(job.job, [&](storage::Store& store) {
      store.saveTranscript(job.job.videoId, rows);
      boost::json::object meta;
      meta["segments"] = rows.size();
      return service.videos().queueStageJobNow(job.job, model::kEmbeddingGeneration,
                                               std::move(meta), ctx_->options.maxAttempts);
    });
    if (!queued) throw jobs::LeaseLost();
    if (*queued && ctx_->wakeEngine) ctx_->wakeEngine();
    spdlog::info("job {}: transcribed {} segments", job.job.id, rows.size());
    return jobs::Outcome::Completed;
  }

 private:
  std::shared_ptr<PipelineContext> ctx_;
};

}  // namespace

jobs::ProcessorPtr makeTranscriptionProcessor(std::shared_ptr<PipelineContext> context) {
  return std::make_shared<TranscriptionProcessor>(std::move(context));
}

}  // namespace herald::pipeline
