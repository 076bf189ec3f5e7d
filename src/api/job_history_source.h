#pragma once
// The backplane's HistorySource over the job store: a job's group is "job-<id>" and its
// stored updates become JobProgressUpdate envelopes exactly as they were published (the
// same JSON text as the live path writes, the same per-job sequence), so a node that
// missed some on Redis fills them in (backplane/redis/redis_backplane.h).
//
// Thread safety: any thread. Reads run on a store lane; `done` runs on `executor`.
#include <boost/asio/any_io_executor.hpp>

#include "backplane/history_source.h"
#include "jobs/progress_service.h"

namespace herald::api {

class JobHistorySource final : public backplane::HistorySource {
 public:
  JobHistorySource(jobs::ProgressService& service, boost::asio::any_io_executor executor)
      : service_(service), executor_(std::move(executor)) {}

  std::optional<std::string> jobOfGroup(const std::string& group) const override;
  void readAfter(const std::string& jobId, std::int64_t afterSequence, std::size_t limit,
                 std::function<void(Page)> done) override;

 private:
  jobs::ProgressService& service_;
  boost::asio::any_io_executor executor_;
};

}  // namespace herald::api
