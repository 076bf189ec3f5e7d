#pragma once
// Limits on what one client may make a job or a video hold (named settings, config.h).
// Without them a job's metadata grew without bound (every progress row copied it, and
// every read of the job carried it), and each new jobType on one videoId added a stage
// to the video, making every report of that video and every VideoProgressUpdate dearer.
#include <cstddef>
#include <stdexcept>
#include <string>

namespace herald::jobs {

struct JobLimits {
  // Jobs:MaxMetadataBytes: a job's metadata, serialised as JSON, after merging a report's.
  std::size_t maxMetadataBytes = std::size_t{16} * 1024;
  // Jobs:MaxCustomStagesPerVideo: stages of a video beyond the pipeline's own (Ingestion,
  // Transcription, Embedding), one per other jobType reported on it.
  int maxCustomStagesPerVideo = 8;
};

// A job refused by a limit: nothing was written. `field` is the request field to blame
// (metadata, jobType), `reason` the metrics reason (metadata_too_large, too_many_stages).
class JobRefused : public std::runtime_error {
 public:
  // `reason` is a string literal (it outlives the response that carries it to /metrics).
  JobRefused(std::string field, const char* reason, const std::string& message)
      : std::runtime_error(message), field_(std::move(field)), reason_(reason) {}
  const std::string& field() const { return field_; }
  const char* reason() const { return reason_; }

 private:
  std::string field_;
  const char* reason_;
};

}  // namespace herald::jobs
