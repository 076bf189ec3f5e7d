#include "api/dashboard.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "core/clock.h"
#include "model/json_mapping.h"

namespace herald::api {

namespace json = boost::json;
using model::JobStatus;

json::object dashboardSummary(const std::vector<storage::JobCount>& counts,
                              std::int64_t nowMillis) {
  std::int64_t byStatus[5] = {0, 0, 0, 0, 0};
  struct Queue {
    std::int64_t pending = 0;
    std::int64_t running = 0;
  };
  // Highest priority first, then by type: the order the engine takes them in.
  std::map<std::tuple<int, std::string>, Queue> queues;
  std::int64_t total = 0;
  for (const auto& c : counts) {
    byStatus[static_cast<int>(c.status)] += c.count;
    total += c.count;
    if (c.status == JobStatus::Pending) queues[{-c.priority, c.jobType}].pending += c.count;
    if (c.status == JobStatus::Running) queues[{-c.priority, c.jobType}].running += c.count;
  }
  json::object statuses;
  for (auto s : {JobStatus::Pending, JobStatus::Running, JobStatus::Completed, JobStatus::Failed,
                 JobStatus::Cancelled}) {
    statuses[model::toString(s)] = byStatus[static_cast<int>(s)];
  }
  json::array queueList;
  for (const auto& [key, q] : queues) {
    json::object o;
    o["jobType"] = std::get<1>(key);
    o["priority"] = -std::get<0>(key);
    o["pending"] = q.pending;
    o["running"] = q.running;
    queueList.push_back(std::move(o));
  }
  json::object out;
  out["byStatus"] = std::move(statuses);
  out["queues"] = std::move(queueList);
  out["total"] = total;
  out["generatedAt"] = core::isoFromMillis(nowMillis);
  return out;
}

json::object dashboardSnapshot(storage::Store& store, std::int64_t nowMillis) {
  auto out = dashboardSummary(store.countJobs(), nowMillis);
  auto list = [&store](std::optional<JobStatus> status, int limit) {
    storage::JobFilter filter;
    filter.status = status;
    filter.limit = limit;
    json::array jobs;
    for (const auto& job : store.listJobs(filter)) jobs.push_back(model::jobResource(job));
    return jobs;
  };
  out["running"] = list(JobStatus::Running, kSnapshotRunning);
  out["recent"] = list(std::nullopt, kSnapshotRecent);
  return out;
}

std::optional<std::string> dashboardPage(const std::string& webRoot) {
  if (webRoot.empty()) return std::nullopt;
  std::ifstream in(std::filesystem::path(webRoot) / "dashboard" / "index.html", std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace herald::api
