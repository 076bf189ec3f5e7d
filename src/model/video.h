#pragma once
// A video and its processing stages, as the VideoProgressUpdate event shows them.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::model {

// Stage and sub-status values are strings on the wire; these are the spec's names.
struct VideoStage {
  std::string name;                // "Ingestion", "Transcription", "Embedding", or a job type
  std::string status = "Pending";  // Pending|InProgress|Completed|Failed|Cancelled
  double progress = 0;
  std::optional<std::int64_t> startedAt;
  std::optional<std::int64_t> completedAt;
  std::optional<std::string> errorMessage;
};

// One recognised stretch of speech.
struct TranscriptSegment {
  double start = 0;  // seconds
  double end = 0;
  std::string text;
};

struct Video {
  std::string id;
  std::string userId;
  std::string url;
  std::string title;
  double durationSeconds = 0;
  std::string processingStatus = "Pending";        // Pending|Processing|Completed|Failed
  std::string transcriptionStatus = "NotStarted";  // NotStarted|Pending|InProgress|Completed|Failed
  std::string embeddingStatus =
      "NotStarted";  // NotStarted|Pending|InProgress|Completed|Partial|Failed
  double overallProgress = 0;
  std::vector<VideoStage> stages;
  std::int64_t createdAt = 0;
  std::int64_t updatedAt = 0;
};

}  // namespace herald::model
