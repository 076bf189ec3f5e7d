#pragma once
// Domain records for jobs and their progress history. Plain values; no behaviour
// beyond name conversions. Times are Unix milliseconds (UTC).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace herald::model {

enum class JobStatus { Pending, Running, Completed, Failed, Cancelled };

std::string_view toString(JobStatus status);
std::optional<JobStatus> parseJobStatus(std::string_view text);  // case-insensitive
bool isTerminal(JobStatus status);

// The job types the pipeline runs itself. External workers may create jobs of other
// types (any identifier); these three are the ones with a meaning for videos.
inline constexpr std::string_view kTranscription = "Transcription";
inline constexpr std::string_view kEmbeddingGeneration = "EmbeddingGeneration";
inline constexpr std::string_view kVideoProcessing = "VideoProcessing";

inline constexpr std::string_view kRunnerHerald = "herald";

struct Job {
  std::string id;
  std::string videoId;  // empty: not tied to a video
  std::string userId;   // empty: no owner
  std::string jobType;
  JobStatus status = JobStatus::Pending;
  double progress = 0;  // 0-100
  std::string currentStage;
  std::string statusMessage;
  std::optional<std::string> errorMessage;
  boost::json::object metadata;
  int priority = 0;  // 0-3, higher first
  int attempts = 0;
  int maxAttempts = 3;
  std::int64_t createdAt = 0;
  std::int64_t updatedAt = 0;
  std::optional<std::int64_t> startedAt;
  std::optional<std::int64_t> completedAt;
  std::int64_t sequence = 0;     // sequence of the last recorded update (1 = creation)
  std::int64_t availableAt = 0;  // a Pending job is not started before this (retry backoff)
  // Who runs it: kRunnerHerald for the built-in pipeline; empty for an external worker
  // reporting through the progress API (the engine never claims those).
  std::string runner;
  // The lease of a claimed job (storage/store.h, "Leases"): who holds it (a node id or an
  // external worker id), the secret its reports carry, when it runs out (0: no lease that
  // expires) and how long each renewal extends it. Empty token: nobody holds a lease.
  std::string leaseOwner;
  std::string leaseToken;
  std::int64_t leaseExpiresAt = 0;
  std::int64_t leaseMillis = 0;
};

// One recorded update of a job: the job's visible state at that moment.
struct ProgressEntry {
  std::string jobId;
  std::int64_t sequence = 0;
  JobStatus status = JobStatus::Pending;
  double progress = 0;
  std::string currentStage;
  std::string statusMessage;
  std::optional<std::string> errorMessage;
  boost::json::object metadata;
  std::int64_t updatedAt = 0;
};

ProgressEntry snapshotOf(const Job& job);

}  // namespace herald::model
