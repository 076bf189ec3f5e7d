#include "api/job_progress_events.h"

#include <optional>

#include "core/json_text.h"
#include <spdlog/spdlog.h>

#include "api/hub_names.h"
#include "backplane/wakeup_batch.h"
#include "metrics/herald_metrics.h"
#include "model/json_mapping.h"

namespace herald::api {

namespace json = boost::json;
using backplane::Envelope;
using backplane::Target;

namespace {

// One argument, as the JSON array the hub protocols carry.
std::string argumentsOf(const json::value& payload) {
  std::string out = "[";
  core::appendJson(out, payload);
  out += ']';
  return out;
}

}  // namespace

void JobProgressEvents::publish(Envelope envelope) {
  const auto kind = envelope.target.kind;
  try {
    published_.inc();
    backplane_.publish(std::move(envelope));
  } catch (const std::exception& e) {
    // The change is stored; subscribers catch up from the store (afterSequence).
    failures_++;
    spdlog::error("notify: publishing a {} send failed: {}",
                  kind == backplane::TargetKind::Group ? "group" : "non-group", e.what());
  }
}

jobs::Delivery JobProgressEvents::jobChanged(const model::Job& job,
                                             const model::ProgressEntry& entry,
                                             bool statusChanged) {
  // The hot path: written as text once; the JSON protocol copies it, MessagePack parses
  // it back once per broadcast.
  Envelope update;
  update.target = Target::group(names::jobGroup(job.id));
  update.event = names::kJobProgressUpdate;
  update.argumentsJson.reserve(512);
  update.argumentsJson += '[';
  model::appendJobProgressUpdateJson(update.argumentsJson, job, entry);
  update.argumentsJson += ']';
  update.ordering = backplane::Ordering{job.id, entry.sequence};
  update.recordedAt = metrics::steadyNanos();
  // The dashboard's copy: the job's REST shape (type, priority, attempts, times) and
  // whether its status changed. No ordering key: it is another event than the job
  // group's, and a connection in both groups must get both; the page drops an update
  // older than the one it shows by its sequence.
  std::optional<Envelope> dashboard;
  if (dashboardWatched_ && dashboardWatched_()) {
    dashboard.emplace();
    dashboard->target = Target::group(names::kDashboardGroup);
    dashboard->event = names::kDashboardJobUpdate;
    auto text = model::jobResourceJson(job);
    text.pop_back();  // the closing brace: one more field follows
    dashboard->argumentsJson.reserve(text.size() + 32);
    dashboard->argumentsJson += '[';
    dashboard->argumentsJson += text;
    dashboard->argumentsJson +=
        statusChanged ? ",\"statusChanged\":true}]" : ",\"statusChanged\":false}]";
  }
  const bool ended = statusChanged && (job.status == model::JobStatus::Completed ||
                                       job.status == model::JobStatus::Failed);
  if (statusChanged && job.status == model::JobStatus::Cancelled) {
    // Other nodes: the one running it stops it now, not at its next lease check.
    return [this, update = std::move(update), dashboard = std::move(dashboard),
            jobId = job.id]() mutable {
      publish(std::move(update));
      if (dashboard) publish(std::move(*dashboard));
      backplane_.signalJobCancelled(jobId);
    };
  }
  if (!ended && !dashboard) {
    return [this, update = std::move(update)]() mutable { publish(std::move(update)); };
  }
  if (!ended) {
    return [this, update = std::move(update), dashboard = std::move(dashboard)]() mutable {
      publish(std::move(update));
      publish(std::move(*dashboard));
    };
  }
  const bool completed = job.status == model::JobStatus::Completed;
  Envelope outcome;
  outcome.target = Target::group(names::jobGroup(job.id));
  outcome.event = completed ? names::kJobCompleted : names::kJobFailed;
  outcome.argumentsJson = argumentsOf(completed ? model::jobCompleted(job) : model::jobFailed(job));
  outcome.recordedAt = update.recordedAt;
  std::vector<Envelope> envelopes{std::move(update), outcome};
  if (!job.userId.empty()) {
    outcome.target = Target::group(names::userGroup(job.userId));
    envelopes.push_back(std::move(outcome));
  }
  if (dashboard) envelopes.push_back(std::move(*dashboard));
  return [this, envelopes = std::move(envelopes)]() mutable {
    for (auto& e : envelopes) publish(std::move(e));
  };
}

jobs::Delivery JobProgressEvents::videoChanged(const model::Video& video,
                                               jobs::VideoTransition transition) {
  std::vector<Envelope> envelopes;
  Envelope update;
  update.target = Target::group(names::videoGroup(video.id));
  update.event = names::kVideoProgressUpdate;
  update.argumentsJson = argumentsOf(model::videoProgressUpdate(video));
  envelopes.push_back(std::move(update));
  if (transition != jobs::VideoTransition::None && !video.userId.empty()) {
    const bool ready = transition == jobs::VideoTransition::Ready;
    json::object data;
    data["videoId"] = video.id;
    data["processingStatus"] = model::toString(video.processingStatus);
    Envelope note;
    note.target = Target::group(names::userGroup(video.userId));
    note.event = names::kUserNotification;
    note.argumentsJson = argumentsOf(model::notification(
        ready ? "VideoReady" : "VideoFailed",
        ready ? "Video processing completed" : "Video processing failed", std::move(data)));
    envelopes.push_back(std::move(note));
  }
  return [this, envelopes = std::move(envelopes)]() mutable {
    for (auto& e : envelopes) publish(std::move(e));
  };
}

void JobProgressEvents::deliverBatch(std::vector<jobs::Delivery>& deliveries) {
  // Every broadcast of the batch queues its frames first; writers start after.
  backplane::WakeupBatch wakeups;
  for (auto& d : deliveries) d();
}

}  // namespace herald::api
