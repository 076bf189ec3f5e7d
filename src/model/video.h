#pragma once
// A video and its processing stages, as the VideoProgressUpdate event shows them.
// Statuses are enums in code; their names (toString) are the spec's wire and storage
// values.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::model {

// The stages the pipeline itself drives; an external job type on a video adds a stage
// named after the type.
inline constexpr std::string_view kIngestionStage = "Ingestion";
inline constexpr std::string_view kTranscriptionStage = "Transcription";
inline constexpr std::string_view kEmbeddingStage = "Embedding";

enum class StageStatus { Pending, InProgress, Completed, Failed, Cancelled };
enum class ProcessingStatus { Pending, Processing, Completed, Failed };
enum class TranscriptionStatus { NotStarted, Pending, InProgress, Completed, Failed };
enum class EmbeddingStatus { NotStarted, Pending, InProgress, Completed, Partial, Failed };

std::string_view toString(StageStatus s);
std::string_view toString(ProcessingStatus s);
std::string_view toString(TranscriptionStatus s);
std::string_view toString(EmbeddingStatus s);
// Exact names; nullopt for anything else (a corrupt row, a future value).
std::optional<StageStatus> parseStageStatus(std::string_view text);
std::optional<ProcessingStatus> parseProcessingStatus(std::string_view text);
std::optional<TranscriptionStatus> parseTranscriptionStatus(std::string_view text);
std::optional<EmbeddingStatus> parseEmbeddingStatus(std::string_view text);

struct VideoStage {
  std::string name;  // kIngestionStage, kTranscriptionStage, kEmbeddingStage, or a job type
  StageStatus status = StageStatus::Pending;
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
  ProcessingStatus processingStatus = ProcessingStatus::Pending;
  TranscriptionStatus transcriptionStatus = TranscriptionStatus::NotStarted;
  EmbeddingStatus embeddingStatus = EmbeddingStatus::NotStarted;
  double overallProgress = 0;
  std::vector<VideoStage> stages;
  std::int64_t createdAt = 0;
  std::int64_t updatedAt = 0;

  const VideoStage* stage(std::string_view name) const;
  VideoStage* stage(std::string_view name);
  bool hasStage(std::string_view name) const { return stage(name) != nullptr; }
};

}  // namespace herald::model
