#include "jobs/progress_reporter.h"

#include "metrics/herald_metrics.h"

#include "jobs/progress_service.h"

namespace herald::jobs {

ProgressReporter::ProgressReporter(ProgressService& service, const model::Job& job,
                                   double maxUpdatesPerSecond, std::string leaseToken)
    : service_(service),
      jobId_(job.id),
      lane_(service.laneOf(job)),
      leaseToken_(std::move(leaseToken)),
      interval_(maxUpdatesPerSecond > 0
                    ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / maxUpdatesPerSecond))
                    : std::chrono::nanoseconds(0)) {}

void ProgressReporter::report(double progress, const std::string& stage, const std::string& message,
                              boost::json::object metadata) {
  Update update{progress, stage, message, std::move(metadata)};
  const auto now = service_.clock().steadyNow();
  const bool first = !lastPublished_;
  const bool stageChanged = stage != lastStage_;
  if (first || stageChanged || now - *lastPublished_ >= interval_) {
    held_.reset();  // superseded by this newer update
    publish(update);
    return;
  }
  if (held_) {
    ++coalesced_;
    metrics::herald().coalesced.inc();
  }
  held_ = std::move(update);
}

void ProgressReporter::flush() {
  if (!held_) return;
  auto update = std::move(*held_);
  held_.reset();
  publish(update);
}

void ProgressReporter::publish(const Update& u) {
  ProgressReport r;
  r.progress = u.progress;
  r.currentStage = u.stage;
  r.statusMessage = u.message;
  r.status = model::JobStatus::Running;
  if (!u.metadata.empty()) r.metadata = u.metadata;
  r.fenced = !leaseToken_.empty();
  r.leaseToken = leaseToken_;
  auto id = jobId_;
  service_.onStoreSync(lane_, [&](storage::Store&) { return service_.reportNow(id, r); });
  lastPublished_ = service_.clock().steadyNow();
  lastStage_ = u.stage;
  ++published_;
}

}  // namespace herald::jobs
