#pragma once
// The durable store behind jobs, videos and progress history. SQLite implements it
// now; a MySQL implementation can follow without touching callers.
//
// Thread safety: implementations are NOT thread-safe. Herald calls a store only from
// its single storage executor (see server wiring), which also orders progress
// updates: an update is stored and published on that executor before the next one.
// Errors: environment failures (disk full, locked file) throw StoreError.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/job.h"
#include "model/video.h"

namespace herald::storage {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct JobFilter {
  std::optional<model::JobStatus> status;
  std::optional<std::string> userId;
  std::optional<std::string> videoId;
  int limit = 100;
};

// The outcome of a read-modify-write of one job.
struct JobChange {
  enum class Outcome { Updated, Unchanged, NotFound };
  Outcome outcome = Outcome::NotFound;
  model::Job job;              // as written (Updated) or as stored (Unchanged)
  model::ProgressEntry entry;  // the history entry written (Updated only)
};
// Decides a change from the job as stored right now; returns false to write nothing.
using JobMutator = std::function<bool(model::Job& job)>;
struct ClaimFilter {
  std::string runner = std::string(model::kRunnerHerald);  // whose queue
  std::vector<std::string> jobTypes;                       // empty: any type
};

class Store {
 public:
  // TEMPORARY single-writer defaults (replaced by the store branch).
  virtual JobChange updateJob(const std::string& jobId, const JobMutator& mutate) {
    JobChange c;
    auto job = getJob(jobId);
    if (!job) return c;
    c.job = std::move(*job);
    if (!mutate(c.job)) {
      c.outcome = JobChange::Outcome::Unchanged;
      return c;
    }
    c.entry = recordUpdate(c.job);
    c.outcome = JobChange::Outcome::Updated;
    return c;
  }
  virtual std::optional<JobChange> claimNextJob(std::int64_t now, const ClaimFilter&,
                                                const JobMutator& mutate) {
    auto job = nextRunnableJob(now);
    if (!job) return std::nullopt;
    JobChange c;
    c.job = std::move(*job);
    mutate(c.job);
    c.entry = recordUpdate(c.job);
    c.outcome = JobChange::Outcome::Updated;
    return c;
  }
  virtual std::optional<model::Video> updateVideo(
      const std::string& videoId,
      const std::function<bool(std::optional<model::Video>&)>& mutate) {
    auto v = getVideo(videoId);
    if (mutate(v) && v) saveVideo(*v);
    return v;
  }

  virtual ~Store() = default;

  // Inserts a new job and records its first progress entry (sequence 1).
  // `job.sequence` is set to 1 on return.
  virtual void createJob(model::Job& job) = 0;

  // Writes the job's progress state (status, progress, stage, messages, metadata,
  // attempts, times, sequence; not its identity: video, user, type, priority, runner) and
  // appends it to the history with the next sequence, atomically. `job.sequence` is
  // advanced; the recorded entry is returned.
  virtual model::ProgressEntry recordUpdate(model::Job& job) = 0;

  // Writes job fields that are not progress (attempts, priority) without a history entry.
  virtual void saveJobQuietly(const model::Job& job) = 0;

  virtual std::optional<model::Job> getJob(const std::string& id) = 0;
  virtual std::vector<model::Job> listJobs(const JobFilter& filter) = 0;  // newest first

  // History entries with sequence > afterSequence, oldest first, at most `limit`.
  virtual std::vector<model::ProgressEntry> progressHistory(const std::string& jobId,
                                                            std::int64_t afterSequence,
                                                            int limit) = 0;

  // The Pending job to run next: highest priority, then oldest; only jobs whose
  // availableAt has passed.
  virtual std::optional<model::Job> nextRunnableJob(std::int64_t now) = 0;

  // Replaces a video's transcript / embeddings.
  virtual void saveTranscript(const std::string& videoId,
                              const std::vector<model::TranscriptSegment>& segments) = 0;
  virtual std::vector<model::TranscriptSegment> transcript(const std::string& videoId) = 0;
  virtual void saveEmbeddings(const std::string& videoId, const std::string& model,
                              const std::vector<std::vector<float>>& vectors) = 0;
  virtual std::size_t embeddingCount(const std::string& videoId) = 0;

  // Group commit: changes between beginBatch and commitBatch are written in one
  // transaction (each operation inside stays atomic on its own). Without a batch, every
  // operation commits by itself.
  virtual void beginBatch() = 0;
  virtual void commitBatch() = 0;
  virtual void rollbackBatch() = 0;

  // Inserts or replaces the video with its stages.
  virtual void saveVideo(const model::Video& video) = 0;
  virtual std::optional<model::Video> getVideo(const std::string& id) = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace herald::storage
