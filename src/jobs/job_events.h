#pragma once
// The jobs layer's outbound port: what it announces when a job or a video changes. The
// jobs layer knows nothing of SignalR, groups or event names; the api layer implements
// this port and decides who hears what (api/job_progress_events.h).
//
// Contract: the service calls jobChanged/videoChanged on the storage executor right
// after the change is written, while its batch is still open. The implementation
// prepares what it will send from the state of that moment (a payload is serialised
// once, here) and returns it as a Delivery, or an empty one when nobody needs to hear.
// The service runs a batch's deliveries in order once the batch has committed, and drops
// them if it did not: nobody hears of a change that was not stored. Deliveries never
// throw into the job: a failure to notify is the implementation's to log and count.
//
// Thread safety: called from the storage executor only.
#include <cstdint>
#include <functional>
#include <vector>

#include "model/job.h"
#include "model/video.h"

namespace herald::jobs {

using Delivery = std::function<void()>;

// What a video change means for its owner.
enum class VideoTransition { None, Ready, Failed };

class JobEvents {
 public:
  virtual ~JobEvents() = default;
  virtual Delivery jobChanged(const model::Job& job, const model::ProgressEntry& entry,
                              bool statusChanged) = 0;
  virtual Delivery videoChanged(const model::Video& video, VideoTransition transition) = 0;
  // Runs one committed batch's deliveries in order; an implementation may hold the
  // writers' wake-ups until every delivery of the batch is queued.
  virtual void deliverBatch(std::vector<Delivery>& deliveries) {
    for (auto& d : deliveries) d();
  }
  // Deliveries that failed (logged by the implementation; the changes stand).
  virtual std::uint64_t failures() const { return 0; }
};

// Announces nothing: for tools and tests that only need the store's side.
class NoJobEvents final : public JobEvents {
 public:
  Delivery jobChanged(const model::Job&, const model::ProgressEntry&, bool) override { return {}; }
  Delivery videoChanged(const model::Video&, VideoTransition) override { return {}; }
};

}  // namespace herald::jobs
