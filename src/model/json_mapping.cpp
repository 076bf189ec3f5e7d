#include "model/json_mapping.h"

#include <cmath>

#include "core/clock.h"
#include "core/json_text.h"

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

namespace {

// The fields a JobProgressUpdate shows, from a job or one entry of its history.
struct UpdateFields {
  JobStatus status;
  double progress;
  const std::string& currentStage;
  const std::string& statusMessage;
  const std::optional<std::string>& errorMessage;
  std::int64_t updatedAt;
  const json::object& metadata;
  std::int64_t sequence;
};

// Strings go straight into the object's storage (emplace, not operator[] then assign).
// The object is sized up front: grown one key at a time, it re-hashed itself four times.
json::object buildUpdate(const Job& job, const UpdateFields& f, std::size_t extra,
                         const json::storage_ptr& sp) {
  json::object o(sp);
  o.reserve(11 + extra);
  o.emplace("jobId", json::string_view(job.id));
  if (job.videoId.empty())
    o.emplace("videoId", nullptr);
  else
    o.emplace("videoId", json::string_view(job.videoId));
  o.emplace("jobType", json::string_view(job.jobType));
  o.emplace("status", toString(f.status));
  o.emplace("progress", numberValue(f.progress));
  o.emplace("currentStage", json::string_view(f.currentStage));
  o.emplace("statusMessage", json::string_view(f.statusMessage));
  if (f.errorMessage)
    o.emplace("errorMessage", json::string_view(*f.errorMessage));
  else
    o.emplace("errorMessage", nullptr);
  o.emplace("updatedAt", json::string_view(core::isoFromMillis(f.updatedAt)));
  o.emplace("metadata", json::value(f.metadata, sp));
  o.emplace("sequence", f.sequence);
  return o;
}

UpdateFields currentFields(const Job& job) {
  return UpdateFields{job.status,       job.progress,  job.currentStage, job.statusMessage,
                      job.errorMessage, job.updatedAt, job.metadata,     job.sequence};
}

// The text of buildUpdate's object (and jobResource's when `resource`), written directly.
// Same keys, same order, same bytes; json_mapping_test compares the two for many jobs.
void writeUpdate(std::string& out, const Job& job, const UpdateFields& f, bool resource) {
  using core::appendJsonString;
  auto optText = [&out](const std::string* s) {
    if (s)
      appendJsonString(out, *s);
    else
      out += "null";
  };
  auto optTimeText = [&out](const std::optional<std::int64_t>& t) {
    if (t)
      appendJsonString(out, core::isoFromMillis(*t));
    else
      out += "null";
  };
  out += "{\"jobId\":";
  appendJsonString(out, job.id);
  out += ",\"videoId\":";
  optText(job.videoId.empty() ? nullptr : &job.videoId);
  out += ",\"jobType\":";
  appendJsonString(out, job.jobType);
  out += ",\"status\":";
  appendJsonString(out, toString(f.status));
  out += ",\"progress\":";
  core::appendJsonNumber(out, f.progress);
  out += ",\"currentStage\":";
  appendJsonString(out, f.currentStage);
  out += ",\"statusMessage\":";
  appendJsonString(out, f.statusMessage);
  out += ",\"errorMessage\":";
  optText(f.errorMessage ? &*f.errorMessage : nullptr);
  out += ",\"updatedAt\":";
  appendJsonString(out, core::isoFromMillis(f.updatedAt));
  out += ",\"metadata\":";
  core::appendJson(out, f.metadata);
  out += ",\"sequence\":";
  core::appendJsonInteger(out, f.sequence);
  if (resource) {
    out += ",\"userId\":";
    optText(job.userId.empty() ? nullptr : &job.userId);
    out += ",\"priority\":";
    core::appendJsonInteger(out, job.priority);
    out += ",\"attempts\":";
    core::appendJsonInteger(out, job.attempts);
    out += ",\"maxAttempts\":";
    core::appendJsonInteger(out, job.maxAttempts);
    out += ",\"createdAt\":";
    appendJsonString(out, core::isoFromMillis(job.createdAt));
    out += ",\"startedAt\":";
    optTimeText(job.startedAt);
    out += ",\"completedAt\":";
    optTimeText(job.completedAt);
  }
  out += '}';
}

UpdateFields entryFields(const ProgressEntry& e) {
  return UpdateFields{e.status,       e.progress,  e.currentStage, e.statusMessage,
                      e.errorMessage, e.updatedAt, e.metadata,     e.sequence};
}

}  // namespace

void appendJobProgressUpdateJson(std::string& out, const Job& job, const ProgressEntry& e) {
  writeUpdate(out, job, entryFields(e), false);
}

std::string jobResourceJson(const Job& job) {
  std::string out;
  out.reserve(512 + job.statusMessage.size() + job.currentStage.size());
  writeUpdate(out, job, currentFields(job), true);
  return out;
}

json::object jobProgressUpdate(const Job& job, const ProgressEntry& e,
                               const json::storage_ptr& sp) {
  return buildUpdate(job, entryFields(e), 0, sp);
}

json::object jobProgressUpdate(const Job& job, const json::storage_ptr& sp) {
  return buildUpdate(job, currentFields(job), 0, sp);
}

json::object jobResource(const Job& job, const json::storage_ptr& sp) {
  auto o = buildUpdate(job, currentFields(job), 7, sp);
  if (job.userId.empty())
    o.emplace("userId", nullptr);
  else
    o.emplace("userId", json::string_view(job.userId));
  o.emplace("priority", job.priority);
  o.emplace("attempts", job.attempts);
  o.emplace("maxAttempts", job.maxAttempts);
  o.emplace("createdAt", json::string_view(core::isoFromMillis(job.createdAt)));
  o.emplace("startedAt", optTime(job.startedAt));
  o.emplace("completedAt", optTime(job.completedAt));
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
  o["processingStatus"] = toString(v.processingStatus);
  o["transcriptionStatus"] = toString(v.transcriptionStatus);
  o["embeddingStatus"] = toString(v.embeddingStatus);
  o["overallProgress"] = numberValue(v.overallProgress);
  json::array stages;
  for (const auto& s : v.stages) {
    json::object so;
    so["name"] = s.name;
    so["status"] = toString(s.status);
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
