// The REST API's route table: one row per method and path (spec section 1), each with its
// access policy, summary, handler and documentation. The OpenAPI document served at
// /swagger/v1/swagger.json is generated from these rows (api/openapi.h), so documenting a
// route is writing its row's RouteDoc (api/route_doc.h); a row without one fails
// openapi_test, and tests/e2e/node/test/openapi.test.mjs calls every documented answer
// and checks the real body against the documented schema.
#include "api/openapi.h"
#include "api/problem.h"
#include "api/rest_api.h"
#include "core/json_text.h"

namespace herald::api {

namespace asio = boost::asio;
using core::HttpResponse;

namespace {

// An answer already made, as an awaitable (the table's handlers all return one).
asio::awaitable<HttpResponse> ready(HttpResponse response) { co_return response; }

// Examples shared by several rows.
constexpr const char* kJobId = "5d0f7c3a9b2e4c1d";
constexpr const char* kVideoId = "a41c9e07d2b84f65";
const std::string kJobNotFound = std::string("Job ") + kJobId + " not found.";
const std::string kVideoNotFound = std::string("Video ") + kVideoId + " not found.";
constexpr const char* kLimitSchema = R"({"type": "integer", "minimum": 1, "maximum": 1000,
  "default": 100})";

OpenApiInfo openApiInfo() {
  OpenApiInfo info;
  info.title = "Herald";
  info.version = HERALD_VERSION;
  info.description =
      "Herald runs video-pipeline jobs (ingest, transcription, embeddings) and pushes their "
      "progress over SignalR at /hubs/job-progress. This REST API reads and changes jobs and "
      "videos; external workers create jobs and report their progress through it. Errors "
      "are application/problem+json. Operations carry `x-access`, the policy each declares.";
  info.tags = {
      {"Jobs", "Job state, history, cancel and retry"},
      {"Workers", "The progress API for external workers (any language)"},
      {"Videos", "Ingest a video and read its state and transcript"},
      {"Hub", "How to connect to the SignalR hub"},
      {"Operations", "Health, metrics and this description"},
  };
  return info;
}

}  // namespace

RestApi::RestApi(const config::Config& config, jobs::ProgressService& service,
                 hub::HubLifetimeManager& lifetime, jobs::JobEngine& engine, std::string webRoot)
    : config_(config),
      service_(service),
      lifetime_(lifetime),
      engine_(engine),
      webRoot_(std::move(webRoot)),
      router_(kMaxIdLength) {
  router_.enforceAccess(config.app.enableAuth);
  using auth::Access;
  using Ctx = auth::RequestContext;
  using Params = RouteParams;
  // Access is each row's policy, checked by the router when AppSettings:EnableAuth is on
  // (auth/policy.h); Owner rows also check the job's or video's owner in the handler. Handlers get
  // the request context and their `{id}`; an id longer than kMaxIdLength matches no route (404).
  // The captured id lives in the router's match until the handler completes.
  auto add = [this](const char* method, const char* pattern, Access access, const char* summary,
                    RouteDoc doc, RouteHandler handler) {
    router_.add(Route{method, pattern, access, summary, std::move(handler), std::move(doc)});
  };

  add("GET", "/health", Access::Anonymous, "Health: status, hub connections, updates recorded",
      RouteDoc("getHealth", "Operations").answer(200, "The server is up", "Health"),
      [this](const Ctx&, const Params&) { return ready(health()); });

  add("GET", "/health/live", Access::Anonymous, "Liveness: the process is up and serving",
      RouteDoc("getLiveness", "Operations")
          .describe("For a liveness probe: answers while the process serves HTTP, whatever "
                    "the state of the store.")
          .answer(200, "The process is up", R"({"type": "object",
            "properties": {"status": {"type": "string", "enum": ["Healthy"]}},
            "required": ["status"], "additionalProperties": false})",
                  R"({"status": "Healthy"})"),
      [](const Ctx&, const Params&) {
        return ready(jsonTextResponse(200, R"({"status":"Healthy"})"));
      });

  add("GET", "/health/ready", Access::Anonymous,
      "Readiness: the store answers (and Redis, when configured); 503 with the reason if not",
      RouteDoc("getReadiness", "Operations")
          .describe("For a readiness probe or a load balancer: every dependency is checked "
                    "with a 2 s timeout; the first that fails is the reason.")
          .answer(200, "Every dependency answers", R"({"type": "object",
            "properties": {"status": {"type": "string", "enum": ["Healthy"]},
              "checks": {"type": "object", "additionalProperties": {"type": "string"}}},
            "required": ["status", "checks"], "additionalProperties": false})",
                  R"({"status": "Healthy", "checks": {"store": "Healthy"}})")
          .problem(503, "A dependency does not answer",
                   "Not ready: the store did not answer within 2 s"),
      [this](const Ctx&, const Params&) { return readiness(); });

  add("GET", "/metrics", Access::Anonymous, "Prometheus text metrics",
      RouteDoc("getMetrics", "Operations")
          .answer(200, "Prometheus text exposition format 0.0.4", R"({"type": "string"})",
                  "# HELP herald_hub_connections Hub connections past their handshake.\n"
                  "# TYPE herald_hub_connections gauge\nherald_hub_connections 3\n",
                  "text/plain"),
      [this](const Ctx&, const Params&) { return metrics(); });

  add("GET", "/api/v1/dashboard/summary", Access::Admin,
      "Job counts: by status, and pending/running by job type and priority (the queues)",
      RouteDoc("getDashboardSummary", "Operations")
          .describe("What the jobs dashboard's counters and queues show; the dashboard itself "
                    "gets it pushed over the hub (SubscribeToDashboard).")
          .answer(200, "The counts", "DashboardSummary"),
      [this](const Ctx&, const Params&) { return dashboardSummary(); });

  // The jobs dashboard's page (web/dashboard/); its scripts and styles are static files.
  for (const char* path : {"/hangfire", "/dashboard"}) {
    const bool alias = std::string_view(path) == "/dashboard";
    add("GET", path, Access::Admin,
        alias ? "The jobs dashboard (a web page; alias of /hangfire)"
              : "The jobs dashboard (a web page)",
        RouteDoc(alias ? "getDashboardPageAlias" : "getDashboardPage", "Operations")
            .describe("Queues, running jobs with live bars, job and video pages with retry "
                      "and cancel; pushed over the hub.")
            .answer(200, "The dashboard's HTML page", R"({"type": "string"})",
                    "<!doctype html>\n<html lang=\"en\">…</html>\n", "text/html"),
        [this](const Ctx&, const Params&) { return ready(dashboardPage()); });
  }

  add("GET", "/swagger/v1/swagger.json", Access::Anonymous,
      "This OpenAPI 3.1 description, generated from the route table",
      RouteDoc("getOpenApiDocument", "Operations")
          .describe("Swagger UI at /swagger shows it and can try every operation.")
          .answer(200, "The OpenAPI document",
                  R"({"type": "object", "required": ["openapi", "info", "paths"]})",
                  R"({"openapi": "3.1.0", "info": {"title": "Herald", "version": "0.1.0"},
                      "paths": {}})"),
      [this](const Ctx&, const Params&) { return ready(jsonTextResponse(200, openApiJson_)); });

  add("GET", "/api/v1/signalr/connection-info", Access::Anonymous,
      "How to connect to the hub: URL, authentication, methods and events",
      RouteDoc("getConnectionInfo", "Hub")
          .answer(200, "The hub's URL, one instruction per hub method, one line per event",
                  "ConnectionInfo"),
      [this](const Ctx& c, const Params&) { return ready(connectionInfo(c)); });

  add("GET", "/api/v1/jobs", Access::Owner,
      "List jobs, newest first (filters: status, jobType, userId, videoId; paging: limit, "
      "offset); the caller's own once auth exists",
      RouteDoc("listJobs", "Jobs")
          .describe("Newest first. Filters combine; an empty one is ignored.")
          .query("status", "Only jobs with this status", "JobStatus", R"("Running")")
          .query("jobType", "Only jobs of this type", R"({"type": "string"})", R"("Transcription")")
          .query("userId", "Only jobs this user owns", R"({"type": "string"})", R"("alice")")
          .query("videoId", "Only jobs of this video", R"({"type": "string"})")
          .query("limit", "At most this many jobs", kLimitSchema, "20")
          .query("offset", "Skip this many jobs of the list (paging)",
                 R"({"type": "integer", "minimum": 0, "maximum": 1000000, "default": 0})", "40")
          .answer(200, "The jobs", "Job[]")
          .problem(400, "A filter is malformed",
                   "status must be one of Pending, Running, Completed, Failed, Cancelled."),
      [this](const Ctx& c, const Params&) { return listJobs(c); });

  add("POST", "/api/v1/jobs", Access::Worker, "Create a job (external worker API)",
      RouteDoc("createJob", "Workers")
          .describe("The job is Pending with sequence 1; the worker that created it runs it "
                    "and reports progress with POST /api/v1/jobs/{id}/progress.")
          .request("CreateJobRequest", "The job to create")
          .answer(201, "The job, created", "Job")
          .header("Location", "The job's URL")
          .problem(400,
                   "The body is not a valid job request, its metadata is over "
                   "Jobs:MaxMetadataBytes as JSON, or its jobType would add a stage to the "
                   "video past Jobs:MaxCustomStagesPerVideo; nothing is created",
                   "The job request is invalid.", R"({"jobType": "is required"})"),
      [this](const Ctx& c, const Params&) { return createJob(c); });

  add("POST", "/api/v1/jobs/claim", Access::Worker,
      "Claim the next queued job of some types, with a lease (external worker API)",
      RouteDoc("claimJob", "Workers")
          .describe("The pull model: the worker gets the next runnable job of its types (the "
                    "built-in pipeline's and those created with POST /api/v1/jobs; highest "
                    "priority, then oldest; a job whose holder's lease expired first), Running, "
                    "its attempt counted, leased to it for leaseSeconds. Its reports carry "
                    "leaseToken and renew the lease; a report with another token is refused "
                    "(409). waitSeconds > 0 waits that long for a job (long poll). See "
                    "docs/workers.md.")
          .request("ClaimRequest", "The job types served, the lease, the wait")
          .answer(200, "A job, leased to the worker", "JobClaim")
          .empty(204, "Nothing of these types is queued (after waitSeconds)")
          .problem(400, "The body is not a valid claim", "The claim is invalid.",
                   R"({"jobTypes": "is required: an array of 1 to 32 job types"})"),
      [this](const Ctx& c, const Params&) { return claimJob(c); });

  add("GET", "/api/v1/jobs/{id}", Access::Owner, "A job's current state",
      RouteDoc("getJob", "Jobs")
          .param("id", "The job's id", kJobId)
          .answer(200, "The job's current state", "Job")
          .problem(404, "No job has this id", kJobNotFound),
      [this](const Ctx& c, const Params& p) { return getJob(c, p.get("id")); });

  add("POST", "/api/v1/jobs/{id}/cancel", Access::Owner, "Cancel a pending or running job",
      RouteDoc("cancelJob", "Jobs")
          .describe("A pending job is Cancelled at once; a running one's processor is told to "
                    "stop and records Cancelled promptly. A pipeline job takes its child jobs "
                    "with it.")
          .param("id", "The job's id", kJobId)
          .answer(202, "Cancelled, or being cancelled", "JobCancellation")
          .problem(404, "No job has this id", kJobNotFound)
          .problem(409, "The job has already ended",
                   std::string("Job ") + kJobId + " has already ended (Completed)."),
      [this](const Ctx& c, const Params& p) { return cancel(c, p.get("id")); });

  add("POST", "/api/v1/jobs/{id}/retry", Access::Owner, "Re-queue a failed or cancelled job",
      RouteDoc("retryJob", "Jobs")
          .param("id", "The job's id", kJobId)
          .answer(202, "The job, Pending again", "Job")
          .problem(404, "No job has this id", kJobNotFound)
          .problem(409, "The job is neither Failed nor Cancelled",
                   std::string("Only Failed or Cancelled jobs can be retried; job ") + kJobId +
                       " is Running."),
      [this](const Ctx& c, const Params& p) { return retry(c, p.get("id")); });

  add("GET", "/api/v1/jobs/{id}/progress", Access::Owner,
      "A job's recorded progress history, oldest first, a page at a time (afterSequence, limit)",
      RouteDoc("getJobProgressHistory", "Jobs")
          .describe(
              "Pages: at most `limit` entries (up to 1000) with a sequence above "
              "afterSequence. A full page carries a Link header (rel=\"next\") to the "
              "next one, i.e. afterSequence = the last entry's sequence; a shorter page "
              "is the last (for now: later reports make more). The Link is sent on full pages "
              "only, so it is described here rather than as an always-present header.")
          .param("id", "The job's id", kJobId)
          .query("afterSequence", "Only entries with a larger sequence",
                 R"({"type": "integer", "minimum": 0, "default": 0})", "3")
          .query("limit", "At most this many entries",
                 R"({"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000})")
          .answer(200, "The recorded updates, oldest first", "ProgressEntry[]")
          .problem(400, "A query parameter is malformed",
                   "afterSequence must be a non-negative integer.")
          .problem(404, "No job has this id", kJobNotFound),
      [this](const Ctx& c, const Params& p) { return history(c, p.get("id")); });

  add("POST", "/api/v1/jobs/{id}/progress", Access::Worker,
      "Report a job's progress (external worker API)",
      RouteDoc("reportJobProgress", "Workers")
          .describe("Stored with the job's next sequence and pushed to the hub's subscribers "
                    "as JobProgressUpdate (and JobCompleted / JobFailed for a terminal status). "
                    "A job claimed with POST /api/v1/jobs/claim takes reports carrying its "
                    "leaseToken only, and each renews the lease; a refused report is stored "
                    "nowhere and pushed to no one.")
          .param("id", "The job's id", kJobId)
          .request("ProgressReport", "What changed")
          .answer(200, "The job after the report", "Job")
          .problem(400,
                   "The body is not a valid progress report, or the job's metadata merged with "
                   "the report's would be over Jobs:MaxMetadataBytes as JSON; nothing is "
                   "recorded",
                   "The progress report is invalid.",
                   R"({"progress": "must be between 0 and 100"})")
          .problem(404, "No job has this id", kJobNotFound)
          .problem(409,
                   "The job has already ended, or it is leased and the report does not carry "
                   "its lease token (the lease was taken over)",
                   std::string("Job ") + kJobId +
                       " has already ended (Completed); no further progress is accepted."),
      [this](const Ctx& c, const Params& p) { return reportProgress(c, p.get("id")); });

  add("POST", "/api/v1/videos/ingest", Access::Authenticated,
      "Ingest a video by URL: creates the video and its processing job",
      RouteDoc("ingestVideo", "Videos")
          .describe("Creates the video and its VideoProcessing job, which stands for the whole "
                    "pipeline (download, transcription, embeddings): subscribe to its jobId.")
          .request("IngestRequest", "The video to ingest")
          .answer(202, "Accepted: the pipeline job, Pending", "Job")
          .header("Location", "The job's URL")
          .problem(400, "The body or its URL is not acceptable", "The ingest request is invalid.",
                   R"({"url": "is required"})"),
      [this](const Ctx& c, const Params&) { return ingest(c); });

  add("GET", "/api/v1/videos/{id}", Access::Owner, "A video's state, stages and jobs",
      RouteDoc("getVideo", "Videos")
          .param("id", "The video's id", kVideoId)
          .answer(200, "The video", "Video")
          .problem(404, "No video has this id", kVideoNotFound),
      [this](const Ctx& c, const Params& p) { return getVideo(c, p.get("id")); });

  add("GET", "/api/v1/videos/{id}/transcript", Access::Owner, "A video's transcript segments",
      RouteDoc("getVideoTranscript", "Videos")
          .param("id", "The video's id", kVideoId)
          .answer(200, "The segments so far, in time order (none before transcription)",
                  "Transcript")
          .problem(404, "No video has this id", kVideoNotFound),
      [this](const Ctx& c, const Params& p) { return transcript(c, p.get("id")); });

  // Last: the description of every row above. The table is read-only from here on.
  openApiJson_ = core::toJson(openApiDocument(router_.routes(), openApiInfo()));
}

}  // namespace herald::api
