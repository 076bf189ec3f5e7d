#pragma once
// The JSON shapes clients see (camelCase, ISO-8601 UTC times), built in one place so the
// hub events and the REST answers can never drift apart.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "model/job.h"
#include "model/video.h"

namespace herald::model {

// A number that prints as an integer when it is one (50, not 5E1).
boost::json::value numberValue(double v);

// JobProgressUpdate for one recorded entry of `job` (the entry may be historical). `sp`:
// where the object allocates (a monotonic resource makes building and dropping it cheap).
boost::json::object jobProgressUpdate(const Job& job, const ProgressEntry& entry,
                                      const boost::json::storage_ptr& sp = {});
// JobProgressUpdate for the job's current state.
boost::json::object jobProgressUpdate(const Job& job, const boost::json::storage_ptr& sp = {});
// The REST shape: the event shape plus userId, priority, attempts and timestamps.
boost::json::object jobResource(const Job& job, const boost::json::storage_ptr& sp = {});
// The same two shapes as JSON text, written without building an object (the hot path of
// every progress report: its event and its REST answer). Byte for byte what serialising
// jobProgressUpdate(job, entry) and jobResource(job) gives.
void appendJobProgressUpdateJson(std::string& out, const Job& job, const ProgressEntry& entry);
std::string jobResourceJson(const Job& job);
// A history entry for GET /jobs/{id}/progress.
boost::json::object progressEntryResource(const ProgressEntry& entry);

boost::json::object jobCompleted(const Job& job);
boost::json::object jobFailed(const Job& job);

boost::json::object videoProgressUpdate(const Video& video);

// UserNotification / BroadcastNotification payload.
boost::json::object notification(std::string_view type, std::string_view message,
                                 boost::json::object data);

}  // namespace herald::model
