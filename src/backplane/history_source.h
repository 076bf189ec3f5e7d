#pragma once
// Where a backplane that may lose messages (Redis pub/sub drops what is published while
// a node is disconnected) reads what it missed: the updates of a job, kept by the store
// with their per-job sequence. The api layer implements it over the job store; the
// backplane knows neither jobs nor storage.
//
// Thread safety: both members may be called from any thread.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backplane/backplane.h"

namespace herald::backplane {

class HistorySource {
 public:
  virtual ~HistorySource() = default;
  // The job whose ordered updates are sent to `group`, when `group` is a job's group.
  virtual std::optional<std::string> jobOfGroup(const std::string& group) const = 0;
  // Up to `limit` of the job's updates with a sequence above `afterSequence`, oldest
  // first, as envelopes like the ones published for them (target, event, ordering).
  // `done` runs once, on any thread, never inside this call; nullopt when the store could
  // not be read (the caller tries again later).
  using Page = std::optional<std::vector<Envelope>>;
  virtual void readAfter(const std::string& jobId, std::int64_t afterSequence, std::size_t limit,
                         std::function<void(Page)> done) = 0;
};

}  // namespace herald::backplane
