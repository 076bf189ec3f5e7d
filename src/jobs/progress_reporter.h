#pragma once
// How a processor reports progress. Floods are coalesced: at most
// `maxUpdatesPerSecond` updates of one job are stored and published, but the first
// update, every change of stage and the final one always go out (spec section 9).
//
// Thread safety: used by one worker thread at a time.
#include <chrono>
#include <optional>
#include <string>

#include <boost/json/object.hpp>

#include "model/job.h"

namespace herald::jobs {

class ProgressService;

class ProgressReporter {
 public:
  // `leaseToken`: the claim's lease; its reports are fenced by it (refused once the lease
  // was taken over) and renew it. Empty: unfenced.
  // Its reports run on the job's lane (ProgressService::laneOf).
  ProgressReporter(ProgressService& service, const model::Job& job, double maxUpdatesPerSecond,
                   std::string leaseToken = {});

  // Records progress (0-100) in `stage`. Blocks until stored when it is published.
  void report(double progress, const std::string& stage, const std::string& message,
              boost::json::object metadata = {});
  // Publishes a held-back update, if any (call before finishing).
  void flush();

  std::uint64_t published() const { return published_; }
  std::uint64_t coalesced() const { return coalesced_; }

 private:
  struct Update {
    double progress;
    std::string stage;
    std::string message;
    boost::json::object metadata;
  };
  void publish(const Update& update);

  ProgressService& service_;
  const std::string jobId_;
  const std::size_t lane_;
  const std::string leaseToken_;
  const std::chrono::nanoseconds interval_;
  std::optional<std::chrono::steady_clock::time_point> lastPublished_;
  std::string lastStage_;
  std::optional<Update> held_;
  std::uint64_t published_ = 0;
  std::uint64_t coalesced_ = 0;
};

}  // namespace herald::jobs
