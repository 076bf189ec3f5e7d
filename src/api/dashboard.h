#pragma once
// What the jobs dashboard (web/dashboard/, served at /hangfire and /dashboard) reads
// besides the ordinary REST resources: the job counts behind its queues and totals, and
// the snapshot SubscribeToDashboard answers with. Built in one place so the REST summary,
// the snapshot and the periodic DashboardStats event have the same shape.
//
// Thread safety: the functions taking a Store run on the storage executor (the store
// is not thread-safe); the rest are pure.
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "storage/store.h"

namespace herald::api {

// {"byStatus": {"Pending": n, "Running": n, "Completed": n, "Failed": n, "Cancelled": n},
//  "queues": [{"jobType", "priority", "pending", "running"}, ...] (highest priority first,
//  then by type; only types with pending or running jobs), "total": n,
//  "generatedAt": ISO-8601}
boost::json::object dashboardSummary(const std::vector<storage::JobCount>& counts,
                                     std::int64_t nowMillis);

// The summary plus "running" (the running jobs, at most kSnapshotRunning) and "recent"
// (the newest jobs, at most kSnapshotRecent), each in the REST job shape.
inline constexpr int kSnapshotRunning = 200;
inline constexpr int kSnapshotRecent = 25;
boost::json::object dashboardSnapshot(storage::Store& store, std::int64_t nowMillis);

// The dashboard page: <webRoot>/dashboard/index.html, nullopt when it is missing.
std::optional<std::string> dashboardPage(const std::string& webRoot);

}  // namespace herald::api
