#include "api/job_history_source.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <spdlog/spdlog.h>

#include "api/hub_names.h"
#include "model/json_mapping.h"

namespace herald::api {

namespace asio = boost::asio;

std::optional<std::string> JobHistorySource::jobOfGroup(const std::string& group) const {
  const std::string prefix = names::jobGroup("");
  if (group.size() <= prefix.size() || group.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  return group.substr(prefix.size());
}

namespace {

// A coroutine function, not a lambda: its frame keeps its own copies of the arguments.
asio::awaitable<backplane::HistorySource::Page> readPage(jobs::ProgressService& service,
                                                         std::string jobId,
                                                         std::int64_t afterSequence,
                                                         std::size_t limit) {
  auto reading = service.onStore([jobId, afterSequence, limit](storage::Store& store) {
    std::vector<backplane::Envelope> out;
    auto job = store.getJob(jobId);
    if (!job) return out;  // deleted: nothing to fill
    const auto entries = store.progressHistory(jobId, afterSequence, static_cast<int>(limit));
    out.reserve(entries.size());
    for (const auto& entry : entries) {
      backplane::Envelope e;
      e.target = backplane::Target::group(names::jobGroup(jobId));
      e.event = names::kJobProgressUpdate;
      e.argumentsJson.reserve(512);
      e.argumentsJson += '[';
      model::appendJobProgressUpdateJson(e.argumentsJson, *job, entry);
      e.argumentsJson += ']';
      e.ordering = backplane::Ordering{jobId, entry.sequence};
      out.push_back(std::move(e));
    }
    return out;
  });
  co_return backplane::HistorySource::Page(co_await std::move(reading));
}

}  // namespace

void JobHistorySource::readAfter(const std::string& jobId, std::int64_t afterSequence,
                                 std::size_t limit, std::function<void(Page)> done) {
  asio::co_spawn(executor_, readPage(service_, jobId, afterSequence, limit),
                 [done = std::move(done), jobId](const std::exception_ptr& error, Page page) {
                   if (error) {
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       spdlog::warn("backplane fill: reading job {}'s history failed: {}", jobId,
                                    e.what());
                     } catch (...) {
                       spdlog::warn("backplane fill: reading job {}'s history failed", jobId);
                     }
                     done(std::nullopt);
                     return;
                   }
                   done(std::move(page));
                 });
}

}  // namespace herald::api
