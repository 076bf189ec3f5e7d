#include "model/json_mapping.h"

#include <cmath>

#include "core/clock.h"

namespace herald::model {
namespace json = boost::json;

namespace {
json::value optString(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}
json::value optString(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}
json::value optTime(const std::optional<std::int64_t>& t) {
  return t ? json::value(core::isoFromMillis(*t)) : json::value(nullptr);
}
}  // namespace

json::value numberValue(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) {
    return json::value(static_cast<std::int64_t>(v));
  }
  return json::value(v);
}

json::object jobProgressUpdate(const Job& job, const ProgressEntry& e) {
  // Sized up front: grown one key at a time, the object re-hashed itself four times, on
  // every progress report (twice: the event and the HTTP answer).
  json::object o;
  o.reserve(18);
  o["jobId"] = job.id;
  o["videoId"] = optString(job.videoId);
  o["jobType"] = job.jobType;
  o["status"] = toString(e.status);
  o["progress"] = numberValue(e.progress);
  o["currentStage"] = e.currentStage;
  o["statusMessage"] = e.statusMessage;
  o["errorMessage"] = optString(e.errorMessage);
  o["updatedAt"] = core::isoFromMillis(e.updatedAt);
  o["metadata"] = e.metadata;
  o["sequence"] = e.sequence;
  return o;
}

json::object jobProgressUpdate(const Job& job) { return jobProgressUpdate(job, snapshotOf(job)); }

json::object jobResource(const Job& job) {
  auto o = jobProgressUpdate(job);
  o["userId"] = optString(job.userId);
  o["priority"] = job.priority;
  o["attempts"] = job.attempts;
  o["maxAttempts"] = job.maxAttempts;
  o["createdAt"] = core::isoFromMillis(job.createdAt);
  o["startedAt"] = optTime(job.startedAt);
  o["completedAt"] = optTime(job.completedAt);
  return o;
}

json::object progressEntryResource(const ProgressEntry& e) {
  json::object o;
  o.reserve(8);
  o["sequence"] = e.sequence;
  o["status"] = toString(e.status);
  o["progress"] = numberValue(e.progress);
  o["currentStage"] = e.currentStage;
  o["statusMessage"] = e.statusMessage;
  o["errorMessage"] = optString(e.errorMessage);
  o["metadata"] = e.metadata;
  o["updatedAt"] = core::isoFromMillis(e.updatedAt);
  return o;
}

json::object jobCompleted(const Job& job) {
  json::object o;
  o["jobId"] = job.id;
  o["videoId"] = optString(job.videoId);
  o["jobType"] = job.jobType;
  o["status"] = "Completed";
  o["message"] = job.statusMessage.empty() ? "Job completed successfully" : job.statusMessage;
  o["completedAt"] = core::isoFromMillis(job.completedAt.value_or(job.updatedAt));
  o["sequence"] = job.sequence;
  return o;
}

json::object jobFailed(const Job& job) {
  json::object o;
  o["jobId"] = job.id;
  o["videoId"] = optString(job.videoId);
  o["jobType"] = job.jobType;
  o["error"] = job.errorMessage.value_or("Unknown error");
  o["message"] = job.statusMessage.empty() ? "Job failed" : job.statusMessage;
  o["failedAt"] = core::isoFromMillis(job.completedAt.value_or(job.updatedAt));
  o["sequence"] = job.sequence;
  return o;
}

json::object videoProgressUpdate(const Video& v) {
  json::object o;
  o["videoId"] = v.id;
  o["processingStatus"] = v.processingStatus;
  o["transcriptionStatus"] = v.transcriptionStatus;
  o["embeddingStatus"] = v.embeddingStatus;
  o["overallProgress"] = numberValue(v.overallProgress);
  json::array stages;
  for (const auto& s : v.stages) {
    json::object so;
    so["name"] = s.name;
    so["status"] = s.status;
    so["progress"] = numberValue(s.progress);
    so["startedAt"] = optTime(s.startedAt);
    so["completedAt"] = optTime(s.completedAt);
    so["errorMessage"] = optString(s.errorMessage);
    stages.push_back(std::move(so));
  }
  o["stages"] = std::move(stages);
  o["updatedAt"] = core::isoFromMillis(v.updatedAt);
  return o;
}

json::object notification(std::string_view type, std::string_view message, json::object data) {
  json::object o;
  o["type"] = type;
  o["message"] = message;
  o["data"] = std::move(data);
  o["timestamp"] = core::isoNow();
  return o;
}

}  // namespace herald::model
