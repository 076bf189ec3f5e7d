#include "model/job.h"

#include "core/strings.h"

namespace herald::model {

std::string_view toString(JobStatus status) {
  switch (status) {
    case JobStatus::Pending: return "Pending";
    case JobStatus::Running: return "Running";
    case JobStatus::Completed: return "Completed";
    case JobStatus::Failed: return "Failed";
    case JobStatus::Cancelled: return "Cancelled";
  }
  return "Pending";
}

std::optional<JobStatus> parseJobStatus(std::string_view text) {
  for (auto s : {JobStatus::Pending, JobStatus::Running, JobStatus::Completed, JobStatus::Failed,
                 JobStatus::Cancelled}) {
    if (core::iequals(text, toString(s))) return s;
  }
  return std::nullopt;
}

bool isTerminal(JobStatus status) {
  return status == JobStatus::Completed || status == JobStatus::Failed ||
         status == JobStatus::Cancelled;
}

ProgressEntry snapshotOf(const Job& job) {
  ProgressEntry e;
  e.jobId = job.id;
  e.sequence = job.sequence;
  e.status = job.status;
  e.progress = job.progress;
  e.currentStage = job.currentStage;
  e.statusMessage = job.statusMessage;
  e.errorMessage = job.errorMessage;
  e.metadata = job.metadata;
  e.updatedAt = job.updatedAt;
  return e;
}

}  // namespace herald::model
