#pragma once
// The jobs layer's JobEvents port, implemented in SignalR terms: a job change becomes a
// JobProgressUpdate to its job's group (and JobCompleted/JobFailed to the job's and the
// owner's groups), a video change a VideoProgressUpdate to the video's group (and a
// UserNotification to its owner when the video is ready or failed). Payloads are written
// as JSON text once, when the change is written, and published through the backplane
// after it commits.
//
// Every job change also goes to the dashboard's group as a DashboardJobUpdate, but only
// while someone watches (the `dashboardWatched` predicate): a node without dashboard
// viewers neither writes nor publishes it.
//
// Thread safety: called from the storage executor (see jobs/job_events.h); the
// deliveries run there too. setDashboardInterest before the first change.
#include <atomic>
#include <cstdint>
#include <functional>

#include "backplane/backplane.h"
#include "metrics/herald_metrics.h"
#include "jobs/job_events.h"

namespace herald::api {

class JobProgressEvents final : public jobs::JobEvents {
 public:
  explicit JobProgressEvents(backplane::Backplane& backplane) : backplane_(backplane) {}

  jobs::Delivery jobChanged(const model::Job& job, const model::ProgressEntry& entry,
                            bool statusChanged) override;
  jobs::Delivery videoChanged(const model::Video& video, jobs::VideoTransition transition) override;
  // Every frame of the batch is queued before any writer starts (backplane::WakeupBatch).
  void deliverBatch(std::vector<jobs::Delivery>& deliveries) override;

  std::uint64_t failures() const override { return failures_.load(); }

  // Whether any connection watches the dashboard. With the in-process backplane, this
  // node's hub knows (HubLifetimeManager::hasGroup); a networked backplane has to answer
  // for every node. Unset: nobody watches.
  void setDashboardInterest(std::function<bool()> watched) {
    dashboardWatched_ = std::move(watched);
  }

 private:
  void publish(backplane::Envelope envelope);

  backplane::Backplane& backplane_;
  std::function<bool()> dashboardWatched_;
  std::atomic<std::uint64_t> failures_{0};
  metrics::Counter& published_ = metrics::herald().backplane.with({"published"});
};

}  // namespace herald::api
