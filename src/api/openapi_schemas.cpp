#include "api/openapi_schemas.h"

#include <string_view>

#include <boost/json/parse.hpp>

namespace herald::api {

namespace json = boost::json;

namespace {

// One component: its schema and one example, as JSON text. `extends` names a component
// whose properties (and required list) come first: Job is a JobProgressUpdate plus its
// bookkeeping, written once.
struct Component {
  std::string_view name;
  std::string_view extends;
  std::string_view schema;
  std::string_view example;
};

// Statuses and enums are the spec's (section 3) and model/job.h, model/video.h.
constexpr Component kComponents[] = {
    {"JobStatus",
     {},
     R"J({"type": "string",
      "enum": ["Pending", "Running", "Completed", "Failed", "Cancelled"]})J",
     R"J("Running")J"},

    {"JobProgressUpdate",
     {},
     R"J({"type": "object",
      "description": "A job's visible state; the payload of the hub's JobProgressUpdate event.",
      "properties": {
        "jobId": {"type": "string"},
        "videoId": {"type": ["string", "null"], "description": "null: not tied to a video"},
        "jobType": {"type": "string",
          "description": "Transcription, EmbeddingGeneration, VideoProcessing, or an external worker's type"},
        "status": {"$ref": "#/components/schemas/JobStatus"},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "currentStage": {"type": "string"},
        "statusMessage": {"type": "string"},
        "errorMessage": {"type": ["string", "null"], "description": "null unless failed"},
        "updatedAt": {"type": "string", "format": "date-time"},
        "metadata": {"type": "object"},
        "sequence": {"type": "integer", "minimum": 1,
          "description": "Per job: 1 at creation, +1 for every recorded update"}},
      "required": ["jobId", "videoId", "jobType", "status", "progress", "currentStage",
        "statusMessage", "errorMessage", "updatedAt", "metadata", "sequence"],
      "additionalProperties": false})J",
     R"J({"jobId": "5d0f7c3a9b2e4c1d", "videoId": "a41c9e07d2b84f65", "jobType": "Transcription",
      "status": "Running", "progress": 40, "currentStage": "Transcribing audio",
      "statusMessage": "Transcribing audio", "errorMessage": null,
      "updatedAt": "2026-03-01T12:00:05.250Z", "metadata": {}, "sequence": 5})J"},

    {"Job", "JobProgressUpdate", R"J({"type": "object",
      "description": "A job's state with its owner, priority, attempts and timestamps.",
      "properties": {
        "userId": {"type": ["string", "null"], "description": "the owner; null: none"},
        "priority": {"type": "integer", "minimum": 0, "maximum": 3},
        "attempts": {"type": "integer", "minimum": 0},
        "maxAttempts": {"type": "integer", "minimum": 0},
        "createdAt": {"type": "string", "format": "date-time"},
        "startedAt": {"type": ["string", "null"], "format": "date-time"},
        "completedAt": {"type": ["string", "null"], "format": "date-time"}},
      "required": ["userId", "priority", "attempts", "maxAttempts", "createdAt", "startedAt",
        "completedAt"],
      "additionalProperties": false})J",
     R"J({"jobId": "5d0f7c3a9b2e4c1d", "videoId": "a41c9e07d2b84f65", "jobType": "Transcription",
      "status": "Running", "progress": 40, "currentStage": "Transcribing audio",
      "statusMessage": "Transcribing audio", "errorMessage": null,
      "updatedAt": "2026-03-01T12:00:05.250Z", "metadata": {}, "sequence": 5,
      "userId": "alice", "priority": 0, "attempts": 1, "maxAttempts": 3,
      "createdAt": "2026-03-01T12:00:00.000Z", "startedAt": "2026-03-01T12:00:00.120Z",
      "completedAt": null})J"},

    {"JobCancellation", "Job", R"J({"type": "object",
      "properties": {
        "cancellation": {"type": "string", "enum": ["Cancelled", "Cancelling"],
          "description": "Cancelled: done; Cancelling: its running processor is stopping"}},
      "required": ["cancellation"],
      "additionalProperties": false})J",
     R"J({"jobId": "5d0f7c3a9b2e4c1d", "videoId": null, "jobType": "Thumbnail",
      "status": "Cancelled", "progress": 10, "currentStage": "Queued",
      "statusMessage": "Job cancelled", "errorMessage": null,
      "updatedAt": "2026-03-01T12:00:05.250Z", "metadata": {}, "sequence": 3,
      "userId": null, "priority": 0, "attempts": 0, "maxAttempts": 3,
      "createdAt": "2026-03-01T12:00:00.000Z", "startedAt": null,
      "completedAt": "2026-03-01T12:00:05.250Z", "cancellation": "Cancelled"})J"},

    {"ProgressEntry",
     {},
     R"J({"type": "object",
      "description": "One recorded update of a job, as it was then.",
      "properties": {
        "sequence": {"type": "integer", "minimum": 1},
        "status": {"$ref": "#/components/schemas/JobStatus"},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "currentStage": {"type": "string"},
        "statusMessage": {"type": "string"},
        "errorMessage": {"type": ["string", "null"]},
        "metadata": {"type": "object"},
        "updatedAt": {"type": "string", "format": "date-time"}},
      "required": ["sequence", "status", "progress", "currentStage", "statusMessage",
        "errorMessage", "metadata", "updatedAt"],
      "additionalProperties": false})J",
     R"J({"sequence": 2, "status": "Running", "progress": 10, "currentStage": "Extracting audio",
      "statusMessage": "Extracting audio", "errorMessage": null, "metadata": {},
      "updatedAt": "2026-03-01T12:00:01.000Z"})J"},

    {"CreateJobRequest",
     {},
     R"J({"type": "object",
      "properties": {
        "jobType": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
        "videoId": {"type": ["string", "null"], "maxLength": 128},
        "userId": {"type": ["string", "null"], "maxLength": 128},
        "metadata": {"type": ["object", "null"]},
        "priority": {"type": ["integer", "null"], "minimum": 0, "maximum": 3}},
      "required": ["jobType"]})J",
     R"J({"jobType": "Thumbnail", "videoId": "a41c9e07d2b84f65", "userId": "alice",
      "metadata": {"size": "640x360"}, "priority": 1})J"},

    {"ProgressReport",
     {},
     R"J({"type": "object",
      "description": "At least one field. Progress moves the job to Running; a terminal status ends it.",
      "properties": {
        "progress": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
        "currentStage": {"type": ["string", "null"], "maxLength": 256},
        "statusMessage": {"type": ["string", "null"], "maxLength": 4096},
        "status": {"anyOf": [{"$ref": "#/components/schemas/JobStatus"}, {"type": "null"}]},
        "errorMessage": {"type": ["string", "null"], "maxLength": 4096},
        "metadata": {"type": ["object", "null"],
          "description": "merged into the job's metadata"},
        "leaseToken": {"type": ["string", "null"], "maxLength": 64,
          "description": "the claim's lease token (required for a claimed job)"}},
      "minProperties": 1})J",
     R"J({"progress": 50, "currentStage": "Rendering", "statusMessage": "Frame 120 of 240"})J"},

    {"ClaimRequest",
     {},
     R"J({"type": "object",
      "properties": {
        "jobTypes": {"type": "array", "minItems": 1, "maxItems": 32,
          "items": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}},
        "leaseSeconds": {"type": ["number", "null"], "minimum": 1, "maximum": 3600,
          "description": "lease length; default Jobs:LeaseSeconds"},
        "workerId": {"type": ["string", "null"], "maxLength": 200,
          "description": "who holds the lease (logs, status messages)"},
        "waitSeconds": {"type": ["number", "null"], "minimum": 0, "maximum": 30,
          "description": "wait this long for a job before answering 204"}},
      "required": ["jobTypes"]})J",
     R"J({"jobTypes": ["Transcription"], "leaseSeconds": 30, "workerId": "whisper-1",
      "waitSeconds": 10})J"},

    {"JobClaim", "Job", R"J({"type": "object",
      "properties": {
        "leaseToken": {"type": "string", "pattern": "^[0-9a-f]{32}$",
          "description": "send it with every report of this job"},
        "leaseOwner": {"type": "string"},
        "leaseExpiresAt": {"type": "string", "format": "date-time"},
        "leaseSeconds": {"type": "number", "description": "each report renews the lease this long"}},
      "required": ["leaseToken", "leaseOwner", "leaseExpiresAt", "leaseSeconds"],
      "additionalProperties": false})J",
     R"J({"jobId": "5d0f7c3a9b2e4c1d", "videoId": "a41c9e07d2b84f65", "jobType": "Transcription",
      "status": "Running", "progress": 0, "currentStage": "Starting",
      "statusMessage": "Attempt 1 of 3", "errorMessage": null,
      "updatedAt": "2026-03-01T12:00:05.250Z", "metadata": {}, "sequence": 2,
      "userId": "alice", "priority": 0, "attempts": 1, "maxAttempts": 3,
      "createdAt": "2026-03-01T12:00:00.000Z", "startedAt": "2026-03-01T12:00:05.250Z",
      "completedAt": null, "leaseToken": "9f86d081884c7d659a2feaa0c55ad015",
      "leaseOwner": "whisper-1", "leaseExpiresAt": "2026-03-01T12:00:35.250Z",
      "leaseSeconds": 30})J"},

    {"IngestRequest",
     {},
     R"J({"type": "object",
      "properties": {
        "url": {"type": "string", "maxLength": 4096,
          "description": "A YouTube URL, an http(s) media URL, or (where allowed) a file:// URL or absolute path"},
        "userId": {"type": ["string", "null"], "maxLength": 128,
          "description": "the owner (without authentication)"},
        "priority": {"type": ["integer", "null"], "minimum": 0, "maximum": 3}},
      "required": ["url"]})J",
     R"J({"url": "https://media.example/talk.mp4", "userId": "alice", "priority": 0})J"},

    {"VideoStage",
     {},
     R"J({"type": "object",
      "properties": {
        "name": {"type": "string", "description": "Ingestion, Transcription, Embedding, or a job type"},
        "status": {"type": "string",
          "enum": ["Pending", "InProgress", "Completed", "Failed", "Cancelled"]},
        "progress": {"type": "number", "minimum": 0, "maximum": 100},
        "startedAt": {"type": ["string", "null"], "format": "date-time"},
        "completedAt": {"type": ["string", "null"], "format": "date-time"},
        "errorMessage": {"type": ["string", "null"]}},
      "required": ["name", "status", "progress", "startedAt", "completedAt", "errorMessage"],
      "additionalProperties": false})J",
     R"J({"name": "Transcription", "status": "InProgress", "progress": 40,
      "startedAt": "2026-03-01T12:00:00.120Z", "completedAt": null, "errorMessage": null})J"},

    {"VideoJob",
     {},
     R"J({"type": "object",
      "properties": {
        "jobId": {"type": "string"},
        "jobType": {"type": "string"},
        "status": {"$ref": "#/components/schemas/JobStatus"},
        "progress": {"type": "number", "minimum": 0, "maximum": 100}},
      "required": ["jobId", "jobType", "status", "progress"],
      "additionalProperties": false})J",
     R"J({"jobId": "5d0f7c3a9b2e4c1d", "jobType": "Transcription", "status": "Running",
      "progress": 40})J"},

    {"Video",
     {},
     R"J({"type": "object",
      "description": "The VideoProgressUpdate shape plus the video's owner, source, title, duration and jobs.",
      "properties": {
        "videoId": {"type": "string"},
        "processingStatus": {"type": "string",
          "enum": ["Pending", "Processing", "Completed", "Failed"]},
        "transcriptionStatus": {"type": "string",
          "enum": ["NotStarted", "Pending", "InProgress", "Completed", "Failed"]},
        "embeddingStatus": {"type": "string",
          "enum": ["NotStarted", "Pending", "InProgress", "Completed", "Partial", "Failed"]},
        "overallProgress": {"type": "number", "minimum": 0, "maximum": 100},
        "stages": {"type": "array", "items": {"$ref": "#/components/schemas/VideoStage"}},
        "updatedAt": {"type": "string", "format": "date-time"},
        "userId": {"type": ["string", "null"]},
        "url": {"type": "string"},
        "title": {"type": "string"},
        "durationSeconds": {"type": "number", "minimum": 0},
        "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/VideoJob"}}},
      "required": ["videoId", "processingStatus", "transcriptionStatus", "embeddingStatus",
        "overallProgress", "stages", "updatedAt", "userId", "url", "title", "durationSeconds",
        "jobs"],
      "additionalProperties": false})J",
     R"J({"videoId": "a41c9e07d2b84f65", "processingStatus": "Processing",
      "transcriptionStatus": "InProgress", "embeddingStatus": "Pending", "overallProgress": 45,
      "stages": [{"name": "Ingestion", "status": "Completed", "progress": 100,
        "startedAt": "2026-03-01T12:00:00.000Z", "completedAt": "2026-03-01T12:00:00.100Z",
        "errorMessage": null}],
      "updatedAt": "2026-03-01T12:00:05.250Z", "userId": "alice",
      "url": "https://media.example/talk.mp4", "title": "talk", "durationSeconds": 42.5,
      "jobs": [{"jobId": "5d0f7c3a9b2e4c1d", "jobType": "Transcription", "status": "Running",
        "progress": 40}]})J"},

    {"TranscriptSegment",
     {},
     R"J({"type": "object",
      "properties": {
        "start": {"type": "number", "minimum": 0, "description": "seconds"},
        "end": {"type": "number", "minimum": 0, "description": "seconds"},
        "text": {"type": "string"}},
      "required": ["start", "end", "text"],
      "additionalProperties": false})J",
     R"J({"start": 0.5, "end": 3.25, "text": "chapter one"})J"},

    {"Transcript",
     {},
     R"J({"type": "object",
      "properties": {
        "videoId": {"type": "string"},
        "segments": {"type": "array",
          "items": {"$ref": "#/components/schemas/TranscriptSegment"}},
        "text": {"type": "string", "description": "the segments' text joined by spaces"}},
      "required": ["videoId", "segments", "text"],
      "additionalProperties": false})J",
     R"J({"videoId": "a41c9e07d2b84f65",
      "segments": [{"start": 0.5, "end": 3.25, "text": "chapter one"}],
      "text": "chapter one"})J"},

    {"ConnectionInfo",
     {},
     R"J({"type": "object",
      "properties": {
        "hubUrl": {"type": "string", "const": "/hubs/job-progress"},
        "userId": {"type": ["string", "null"], "description": "from the caller's token; null without one"},
        "instructions": {"type": "object",
          "properties": {
            "connect": {"type": "string"}, "authentication": {"type": "string"},
            "subscribeToJob": {"type": "string"}, "subscribeToVideo": {"type": "string"},
            "unsubscribeFromJob": {"type": "string"}, "getJobProgress": {"type": "string"},
            "getVideoProgress": {"type": "string"}},
          "required": ["connect", "authentication", "subscribeToJob", "subscribeToVideo",
            "unsubscribeFromJob", "getJobProgress", "getVideoProgress"],
          "additionalProperties": false},
        "events": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]+ - .+$"},
          "description": "one line per hub event: \"Name - what it is\""}},
      "required": ["hubUrl", "userId", "instructions", "events"],
      "additionalProperties": false})J",
     R"J({"hubUrl": "/hubs/job-progress", "userId": null,
      "instructions": {"connect": "Connect a SignalR client to /hubs/job-progress",
        "authentication": "No authentication is required",
        "subscribeToJob": "invoke('SubscribeToJob', jobId[, afterSequence])",
        "subscribeToVideo": "invoke('SubscribeToVideo', videoId)",
        "unsubscribeFromJob": "invoke('UnsubscribeFromJob', jobId)",
        "getJobProgress": "invoke('GetJobProgress', jobId)",
        "getVideoProgress": "invoke('GetVideoProgress', videoId)"},
      "events": ["JobProgressUpdate - progress of a job", "JobCompleted - a job finished successfully"]})J"},

    {"DashboardSummary",
     {},
     R"J({"type": "object",
      "properties": {
        "byStatus": {"type": "object",
          "properties": {
            "Pending": {"type": "integer", "minimum": 0},
            "Running": {"type": "integer", "minimum": 0},
            "Completed": {"type": "integer", "minimum": 0},
            "Failed": {"type": "integer", "minimum": 0},
            "Cancelled": {"type": "integer", "minimum": 0}},
          "required": ["Pending", "Running", "Completed", "Failed", "Cancelled"],
          "additionalProperties": false},
        "queues": {"type": "array", "description": "highest priority first, then by type",
          "items": {"type": "object",
            "properties": {
              "jobType": {"type": "string"},
              "priority": {"type": "integer"},
              "pending": {"type": "integer", "minimum": 0},
              "running": {"type": "integer", "minimum": 0}},
            "required": ["jobType", "priority", "pending", "running"],
            "additionalProperties": false}},
        "total": {"type": "integer", "minimum": 0},
        "generatedAt": {"type": "string", "format": "date-time"}},
      "required": ["byStatus", "queues", "total", "generatedAt"],
      "additionalProperties": false})J",
     R"J({"byStatus": {"Pending": 4, "Running": 2, "Completed": 120, "Failed": 3, "Cancelled": 1},
      "queues": [{"jobType": "Transcription", "priority": 2, "pending": 3, "running": 1},
                 {"jobType": "EmbeddingGeneration", "priority": 0, "pending": 1, "running": 1}],
      "total": 130, "generatedAt": "2026-12-04T12:00:00.000Z"})J"},

    {"Health",
     {},
     R"J({"type": "object",
      "properties": {
        "status": {"type": "string", "enum": ["Healthy", "Degraded"],
          "description": "Degraded: still serving, but a part is impaired (see checks)"},
        "connections": {"type": "integer", "minimum": 0, "description": "hub connections"},
        "updatesRecorded": {"type": "integer", "minimum": 0,
          "description": "job progress updates stored since start"},
        "checks": {"type": "object",
          "properties": {
            "backplane": {"type": "object",
              "description": "the fan-out between nodes: Degraded while Redis is unreachable (local delivery goes on; other nodes' updates are filled in from the store when it is back)",
              "properties": {
                "status": {"type": "string", "enum": ["Healthy", "Degraded"]},
                "description": {"type": "string", "description": "why it is degraded"}},
              "required": ["status"],
              "additionalProperties": false}},
          "additionalProperties": false}},
      "required": ["status", "connections", "updatesRecorded"],
      "additionalProperties": false})J",
     R"J({"status": "Healthy", "connections": 3, "updatesRecorded": 1250,
      "checks": {"backplane": {"status": "Healthy"}}})J"},

    {"Problem",
     {},
     R"J({"type": "object",
      "description": "An error (RFC 9457 problem details), as ASP.NET Core answers one.",
      "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "minLength": 1},
        "errors": {"type": "object", "additionalProperties": {"type": "string"},
          "description": "field -> what is wrong with it (validation errors)"}},
      "required": ["type", "title", "status", "detail"],
      "additionalProperties": false})J",
     R"J({"type": "https://tools.ietf.org/html/rfc9110#section-15", "title": "Not Found",
      "status": 404, "detail": "Job 5d0f7c3a9b2e4c1d not found."})J"},
};

// Appends `base`'s properties and required names before the component's own.
void inherit(json::object& schema, const json::object& base) {
  json::object properties = base.at("properties").as_object();
  for (const auto& kv : schema.at("properties").as_object()) properties[kv.key()] = kv.value();
  json::array required = base.at("required").as_array();
  for (const auto& r : schema.at("required").as_array()) required.push_back(r);
  if (!schema.contains("description") && base.contains("description")) {
    schema["description"] = base.at("description");
  }
  schema["properties"] = std::move(properties);
  schema["required"] = std::move(required);
}

json::object build() {
  json::object out;
  for (const auto& c : kComponents) {
    auto schema = json::parse(c.schema).as_object();
    if (!c.extends.empty()) {
      auto base = out.at(c.extends).as_object();
      base.erase("examples");
      inherit(schema, base);
    }
    schema["examples"] = json::array{json::parse(c.example)};
    out[c.name] = std::move(schema);
  }
  return out;
}

}  // namespace

const json::object& schemaComponents() {
  static const json::object components = build();
  return components;
}

}  // namespace herald::api
