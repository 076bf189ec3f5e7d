#include "api/rest_api.h"

#include <chrono>
#include <cmath>
#include <map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/monotonic_resource.hpp>

#include <cctype>

#include <boost/json/parse.hpp>
#include <spdlog/spdlog.h>

#include "api/dashboard.h"
#include "api/hub_names.h"
#include "api/problem.h"
#include "config/load.h"
#include "auth/policy.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/local_files.h"
#include "core/media_url.h"
#include "core/strings.h"
#include "metrics/herald_metrics.h"
#include "model/json_mapping.h"

namespace herald::api {

namespace asio = boost::asio;
namespace json = boost::json;
using core::HttpRequest;
using core::HttpResponse;
using core::MediaSource;
using core::MediaUrl;

namespace {

constexpr std::size_t kMaxTextLength = 4096;

bool validIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

// True when every number in `v` is finite. Boost.JSON reads 1e400 as infinity, which it
// would later print as the bare word Infinity: invalid JSON that would break every JSON
// client receiving the event, so such a body is refused up front.
bool allNumbersFinite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_: return std::isfinite(v.get_double());
    case json::kind::array:
      for (const auto& e : v.get_array()) {
        if (!allNumbersFinite(e)) return false;
      }
      return true;
    case json::kind::object:
      for (const auto& kv : v.get_object()) {
        if (!allNumbersFinite(kv.value())) return false;
      }
      return true;
    default: return true;
  }
}

// Parses a JSON object body or explains why not.
std::optional<json::object> parseBody(const HttpRequest& request, HttpResponse& error,
                                      json::storage_ptr sp = {}) {
  if (request.body.empty()) {
    error = problem(400, "A JSON object body is required.");
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto v = json::parse(request.body, ec, std::move(sp));
  if (ec) {
    error = problem(400, "The body is not valid JSON: " + ec.message() + ".");
    error.rejectReason = "bad_json";
    return std::nullopt;
  }
  if (!v.is_object()) {
    error = problem(400, "The body must be a JSON object.");
    return std::nullopt;
  }
  if (!allNumbersFinite(v)) {
    error = problem(400, "The body contains a number too large to represent (beyond ±1.8e308).");
    return std::nullopt;
  }
  return std::move(v.as_object());
}

// Reads an optional string field; records an error when present with another type.
std::optional<std::string> optionalString(const json::object& body, std::string_view key,
                                          json::object& errors, std::size_t maxLength) {
  auto* v = body.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_string()) {
    errors[key] = "must be a string";
    return std::nullopt;
  }
  if (v->as_string().size() > maxLength) {
    errors[key] = "is longer than " + std::to_string(maxLength) + " characters";
    return std::nullopt;
  }
  return std::string(v->as_string());
}

std::optional<double> optionalNumber(const json::object& body, std::string_view key,
                                     json::object& errors) {
  auto* v = body.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  if (v->is_double()) return v->as_double();
  errors[key] = "must be a number";
  return std::nullopt;
}

std::optional<int> parseLimit(const HttpRequest& request, int fallback, int max,
                              HttpResponse& error) {
  auto v = core::queryValue(request.query, "limit");
  if (!v || v->empty()) return fallback;
  try {
    std::size_t pos = 0;
    int n = std::stoi(*v, &pos);
    if (pos != v->size() || n < 1 || n > max) throw std::out_of_range("limit");
    return n;
  } catch (const std::exception&) {
    error = problem(400, "limit must be an integer from 1 to " + std::to_string(max) + ".");
    return std::nullopt;
  }
}

// The most entries GET /api/v1/jobs/{id}/progress returns at once (the stores' cap too).
constexpr int kMaxHistoryPage = 1000;

// A limit's refusal (jobs::JobRefused): 400 naming the field, counted by its reason.
HttpResponse refusedProblem(const jobs::JobRefused& refused, std::string_view title) {
  json::object errors;
  errors[refused.field()] = refused.what();
  auto response = problem(400, std::string(title) + " " + refused.what() + ".", std::move(errors));
  response.rejectReason = refused.reason();
  return response;
}

}  // namespace

asio::awaitable<std::optional<HttpResponse>> RestApi::handle(const auth::RequestContext& context) {
  const auto& request = context.request;
  try {
    auto dispatching = router_.dispatch(context);
    if (auto response = co_await std::move(dispatching)) co_return std::move(*response);
  } catch (const std::exception& e) {
    spdlog::error("{} {} failed: {}", request.method, request.path, e.what());
    co_return problem(500, "An internal error occurred.");
  }
  // Under /api/v1/ every answer is a problem, even for a path no route knows.
  if (request.path.size() > 8 &&
      core::iequals(std::string_view(request.path).substr(0, 8), "/api/v1/")) {
    co_return problem(404, "No such resource: " + request.path);
  }
  co_return std::nullopt;
}

asio::awaitable<HttpResponse> RestApi::dashboardSummary() {
  auto reading = service_.onStore([this](storage::Store& s) {
    return api::dashboardSummary(s.countJobs(), service_.nowMillis());
  });
  auto summary = co_await std::move(reading);  // not inside the call: see job_progress_hub.cpp
  co_return jsonResponse(200, summary);
}

HttpResponse RestApi::dashboardPage() const {
  auto page = api::dashboardPage(webRoot_);
  if (!page) {
    HttpResponse r;
    r.status = 404;
    r.contentType = "text/plain; charset=utf-8";
    r.body = "The dashboard page is missing from the web root (" + webRoot_ + ").";
    return r;
  }
  HttpResponse r;
  r.contentType = "text/html; charset=utf-8";
  r.body = std::move(*page);
  return r;
}

HttpResponse RestApi::connectionInfo(const auth::RequestContext& context) const {
  json::object o;
  o["hubUrl"] = "/hubs/job-progress";
  // The caller's user id when a credential named one; null for an anonymous caller
  // (always without EnableAuth).
  o["userId"] = context.principal.userId.empty() ? json::value(nullptr)
                                                 : json::value(context.principal.userId);
  json::object instructions;
  instructions["connect"] =
      "Connect a SignalR client to /hubs/job-progress (WebSockets, JSON hub protocol)";
  // Only what the server honours: a token when EnableAuth is on, none otherwise.
  instructions["authentication"] =
      config_.app.enableAuth
          ? "A JWT bearer token is required: pass accessTokenFactory to the client (it is sent "
            "as Authorization: Bearer, and as access_token in the query for WebSockets and "
            "SSE); a connection closes when its token expires and reconnects with a fresh one"
          : "No authentication is required: connect without an access token (this server does "
            "not verify tokens)";
  instructions["subscribeToJob"] =
      "invoke('SubscribeToJob', jobId[, afterSequence]) to receive a job's updates";
  instructions["subscribeToVideo"] =
      "invoke('SubscribeToVideo', videoId) to receive a video's updates";
  instructions["unsubscribeFromJob"] =
      "invoke('UnsubscribeFromJob', jobId) to stop receiving a job's updates";
  instructions["getJobProgress"] = "invoke('GetJobProgress', jobId) to get a job's current state";
  instructions["getVideoProgress"] =
      "invoke('GetVideoProgress', videoId) to get a video's current state";
  o["instructions"] = std::move(instructions);
  json::array events;
  for (const auto& e : names::kEvents) {
    events.emplace_back(std::string(e.name) + " - " + e.meaning);
  }
  o["events"] = std::move(events);
  return jsonResponse(200, o);
}

HttpResponse RestApi::health() const {
  json::object o;
  // Degraded (ASP.NET Core's health status): still serving, with 200, but a part is
  // impaired; today only the backplane can be (Redis unreachable: local delivery goes on,
  // other nodes' updates are filled in from the store when it is back).
  const auto bp = backplane_ ? backplane_->health() : backplane::BackplaneHealth{};
  o["status"] = bp.degraded ? "Degraded" : "Healthy";
  o["connections"] = lifetime_.connectionCount();
  o["updatesRecorded"] = service_.stats().updatesRecorded.load();
  if (backplane_) {
    json::object check;
    check["status"] = bp.degraded ? "Degraded" : "Healthy";
    if (bp.degraded) check["description"] = bp.reason;
    json::object checks;
    checks["backplane"] = std::move(check);
    o["checks"] = std::move(checks);
  }
  return jsonResponse(200, o);
}

asio::awaitable<HttpResponse> RestApi::readiness() {
  // Each check answers within its timeout or fails; the first failure is the reason.
  auto store = co_await checkStore();
  if (!store.empty()) {
    co_return problem(503, "Not ready: " + store);
  }
  // An unreachable Redis leaves the node ready (it serves its own clients and fills in
  // the rest later) but Degraded, as /health says.
  if (backplane_ && backplane_->health().degraded) {
    co_return jsonTextResponse(
        200, R"({"status":"Degraded","checks":{"store":"Healthy","backplane":"Degraded"}})");
  }
  co_return jsonTextResponse(200, R"({"status":"Healthy","checks":{"store":"Healthy"}})");
}

asio::awaitable<std::string> RestApi::checkStore() {
  // The trivial query runs on the storage executor; its answer is awaited at most
  // kReadyTimeout (a store stuck behind another process's lock would otherwise hold the
  // probe for the store's whole busy timeout).
  constexpr auto kReadyTimeout = std::chrono::seconds(2);
  struct Outcome {
    bool done = false;
    std::string error;
  };
  auto outcome = std::make_shared<Outcome>();
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, kReadyTimeout);
  asio::co_spawn(
      executor,
      [this, outcome, timer]() -> asio::awaitable<void> {
        try {
          auto pinging = service_.onStore([](storage::Store& s) {
            s.ping();
            return true;
          });
          co_await std::move(pinging);
        } catch (const std::exception& e) {
          outcome->error = e.what();
          if (outcome->error.empty()) outcome->error = "store error";
        }
        outcome->done = true;
        timer->cancel();
      },
      asio::detached);
  boost::system::error_code ec;
  co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (!outcome->done) {
    co_return "the store did not answer within " + std::to_string(kReadyTimeout.count()) + " s";
  }
  if (!outcome->error.empty()) co_return "the store failed: " + outcome->error;
  co_return std::string();
}

asio::awaitable<HttpResponse> RestApi::metrics() {
  // Prometheus text exposition format 0.0.4: the process's registered metrics, then the
  // gauges read at scrape time.
  auto d = lifetime_.stats();
  const auto& s = service_.stats();
  std::vector<storage::QueueDepth> depth;
  std::string storeError;
  try {
    auto counting = service_.onStore([](storage::Store& st) { return st.queueDepth(); });
    depth = co_await std::move(counting);
  } catch (const std::exception& e) {
    storeError = e.what();  // the rest of the metrics still help
  }
  // Connections by transport and protocol: every combination is written (0 included), so
  // a series does not vanish when its last connection leaves.
  std::map<std::pair<std::string, std::string>, std::size_t> byTransport;
  for (const char* t : {"websockets", "serversentevents", "longpolling"}) {
    for (const char* p : {"json", "messagepack"}) byTransport[{t, p}] = 0;
  }
  for (const auto& c : lifetime_.allConnections()) {
    const auto* protocol = c->protocol();
    ++byTransport[{c->transport(), protocol ? std::string(protocol->name()) : "none"}];
  }
  const auto text = metrics::herald().registry.expose([&](metrics::TextWriter& w) {
    auto one = [&w](const char* name, const char* type, const char* help, double value) {
      w.family(name, type, help);
      w.sample(name, {}, value);
    };
    one("herald_hub_connections", "gauge", "Hub connections past their handshake.",
        static_cast<double>(lifetime_.connectionCount()));
    w.family("herald_hub_connections_by_transport", "gauge",
             "Hub connections past their handshake, by transport and hub protocol.");
    for (const auto& [key, n] : byTransport) {
      w.sample("herald_hub_connections_by_transport",
               {{"transport", key.first}, {"protocol", key.second}}, static_cast<double>(n));
    }
    one("herald_hub_groups", "gauge", "Hub groups with at least one local member.",
        static_cast<double>(lifetime_.groupCount()));
    w.family("herald_jobs_queued", "gauge", "Pending jobs, by job type and priority.");
    for (const auto& q : depth) {
      w.sample("herald_jobs_queued",
               {{"job_type", q.jobType}, {"priority", std::to_string(q.priority)}},
               static_cast<double>(q.count));
    }
    one("herald_store_scrape_errors", "gauge",
        "1 when this scrape could not read the queue depth from the store.",
        storeError.empty() ? 0 : 1);
    one("herald_hub_messages_published_total", "counter",
        "Hub sends (each serialised once per protocol).", static_cast<double>(d.messagesPublished));
    one("herald_hub_frames_queued_total", "counter", "Frames queued for delivery to connections.",
        static_cast<double>(d.framesQueued));
    one("herald_hub_stale_dropped_total", "counter",
        "Updates dropped: ordered events not delivered because the connection had a newer "
        "sequence.",
        static_cast<double>(d.staleDropped));
    one("herald_hub_slow_consumer_closes_total", "counter",
        "Connections closed because their outbound queue overflowed.",
        static_cast<double>(d.overflows));
    one("herald_job_updates_recorded_total", "counter", "Job progress updates stored.",
        static_cast<double>(s.updatesRecorded.load()));
    one("herald_notify_failures_total", "counter", "Notifications that failed (the job went on).",
        static_cast<double>(service_.notifyFailures()));
  });
  HttpResponse r;
  r.contentType = "text/plain; version=0.0.4; charset=utf-8";
  r.body = text;
  co_return r;
}

bool RestApi::maySee(const Ctx& context, const std::string& ownerUserId) const {
  return auth::maySee(config_.app.enableAuth, context.principal, ownerUserId);
}

asio::awaitable<HttpResponse> RestApi::createJob(const Ctx& context) {
  const auto& request = context.request;
  HttpResponse error;
  auto body = parseBody(request, error);
  if (!body) co_return error;
  json::object errors;
  jobs::NewJob spec;
  auto jobType = optionalString(*body, "jobType", errors, 64);
  if (!jobType && !errors.contains("jobType")) errors["jobType"] = "is required";
  if (jobType && !validIdentifier(*jobType)) {
    errors["jobType"] = "must be a name of letters, digits, '_', '-' or '.'";
  }
  auto videoId = optionalString(*body, "videoId", errors, kMaxIdLength);
  auto userId = optionalString(*body, "userId", errors, kMaxIdLength);
  if (auto* md = body->if_contains("metadata"); md && !md->is_null()) {
    if (md->is_object())
      spec.metadata = md->as_object();
    else
      errors["metadata"] = "must be an object";
  }
  if (auto p = optionalNumber(*body, "priority", errors)) {
    if (*p < 0 || *p > 3 || *p != static_cast<int>(*p))
      errors["priority"] = "must be 0, 1, 2 or 3";
    else
      spec.priority = static_cast<int>(*p);
  }
  if (!errors.empty()) co_return problem(400, "The job request is invalid.", std::move(errors));
  spec.jobType = *jobType;
  spec.videoId = videoId.value_or("");
  spec.userId = userId.value_or("");
  // The creator may report to the job (a worker reports only to jobs it created or
  // claimed): kept as the job's runner, which no queue of the built-in engine matches.
  if (config_.app.enableAuth) spec.runner = context.principal.actorId();
  auto creating = service_.createJob(std::move(spec));
  model::Job job;
  try {
    job = co_await std::move(creating);
  } catch (const jobs::JobRefused& refused) {
    error = refusedProblem(refused, "The job request is invalid.");
  }
  if (error.status != 200) co_return error;
  auto response = jsonResponse(201, model::jobResource(job));
  response.headers.emplace_back("Location", "/api/v1/jobs/" + job.id);
  co_return response;
}

asio::awaitable<HttpResponse> RestApi::reportProgress(const Ctx& context,
                                                      const std::string& jobId) {
  const auto& request = context.request;
  HttpResponse error;
  // The parsed body is only read (fields are copied out): parsed into a monotonic
  // resource, it costs a few pointer bumps instead of a malloc per value.
  json::monotonic_resource bodyScratch(1024);
  auto body = parseBody(request, error, &bodyScratch);
  if (!body) co_return error;
  json::object errors;
  jobs::ProgressReport report;
  report.progress = optionalNumber(*body, "progress", errors);
  if (report.progress && !(*report.progress >= 0 && *report.progress <= 100)) {
    errors["progress"] = "must be between 0 and 100";
  }
  report.currentStage = optionalString(*body, "currentStage", errors, 256);
  report.statusMessage = optionalString(*body, "statusMessage", errors, kMaxTextLength);
  report.errorMessage = optionalString(*body, "errorMessage", errors, kMaxTextLength);
  if (auto status = optionalString(*body, "status", errors, 32)) {
    report.status = model::parseJobStatus(*status);
    if (!report.status) {
      errors["status"] = "must be one of Pending, Running, Completed, Failed, Cancelled";
    }
  }
  if (auto* md = body->if_contains("metadata"); md && !md->is_null()) {
    // Copied into default storage: the report outlives nothing here, but the job
    // it is merged into does.
    if (md->is_object())
      report.metadata.emplace(md->as_object(), json::storage_ptr());
    else
      errors["metadata"] = "must be an object";
  }
  if (!report.progress && !report.currentStage && !report.statusMessage && !report.status &&
      !report.errorMessage && !report.metadata && errors.empty()) {
    errors["body"] =
        "must contain at least one of progress, currentStage, statusMessage, "
        "status, errorMessage, metadata";
  }
  if (!errors.empty()) co_return problem(400, "The progress report is invalid.", std::move(errors));

  // Every report through the API is fenced: a job claimed with a lease takes reports
  // carrying its token only; a job nobody leased takes reports without one (as always).
  report.fenced = true;
  if (auto token = optionalString(*body, "leaseToken", errors, 64)) report.leaseToken = *token;
  if (!errors.empty()) co_return problem(400, "The progress report is invalid.", std::move(errors));
  // With authentication, a worker reports only to jobs it created or holds the lease of
  // (an admin to any): checked inside the store's transaction, other jobs are "not found".
  if (config_.app.enableAuth && !context.principal.isAdmin()) {
    report.reporter = context.principal.actorId();
  }

  auto reporting = service_.report(jobId, std::move(report));
  auto result = co_await std::move(reporting);
  switch (result.outcome) {
    case jobs::ReportOutcome::NotFound: co_return problem(404, "Job " + jobId + " not found.");
    case jobs::ReportOutcome::LeaseLost:
      co_return problem(409, "Job " + jobId +
                                 " is leased under another token (its lease was taken over, "
                                 "or the report carries none); the report was not recorded.");
    case jobs::ReportOutcome::AlreadyFinished:
      co_return problem(409, "Job " + jobId + " has already ended (" +
                                 std::string(model::toString(result.job.status)) +
                                 "); no further progress is accepted.");
    case jobs::ReportOutcome::Refused:
      co_return refusedProblem(*result.refusal, "The progress report is invalid.");
    case jobs::ReportOutcome::Recorded: break;
  }
  // Written as text directly: the object would live only to be serialised.
  co_return jsonTextResponse(200, model::jobResourceJson(result.job));
}

asio::awaitable<HttpResponse> RestApi::claimJob(const Ctx& context) {
  const auto& request = context.request;
  // Waiting claims are bounded: past this many, a claim answers at once (204 if empty).
  constexpr int kMaxClaimWaiters = 64;
  // A job queued on this node wakes the waiting claims at once (QueueSignal); the store
  // is polled this often only for jobs queued by other nodes sharing the database.
  constexpr auto kClaimPoll = std::chrono::milliseconds(1000);
  HttpResponse error;
  auto body = parseBody(request, error);
  if (!body) co_return error;
  json::object errors;
  storage::ClaimFilter filter;
  filter.anyRunner = true;  // the built-in pipeline's jobs and those created by workers
  if (auto* types = body->if_contains("jobTypes");
      types && types->is_array() && !types->as_array().empty() && types->as_array().size() <= 32) {
    for (const auto& t : types->as_array()) {
      if (!t.is_string() || !validIdentifier(t.as_string())) {
        errors["jobTypes"] = "must hold job types (letters, digits, _ . -; 1-64 characters)";
        break;
      }
      filter.jobTypes.emplace_back(t.as_string());
    }
  } else {
    errors["jobTypes"] = "is required: an array of 1 to 32 job types";
  }
  auto leaseSeconds = optionalNumber(*body, "leaseSeconds", errors);
  if (leaseSeconds && !(*leaseSeconds >= 1 && *leaseSeconds <= 3600)) {
    errors["leaseSeconds"] = "must be between 1 and 3600";
  }
  auto waitSeconds = optionalNumber(*body, "waitSeconds", errors);
  if (waitSeconds && !(*waitSeconds >= 0 && *waitSeconds <= 30)) {
    errors["waitSeconds"] = "must be between 0 and 30";
  }
  auto workerId = optionalString(*body, "workerId", errors, 200);
  if (!errors.empty()) co_return problem(400, "The claim is invalid.", std::move(errors));

  jobs::LeaseSpec lease;
  // With authentication, the lease is held by the caller's identity, whatever workerId
  // says: its reports are then accepted as the holder's (and nobody else's).
  lease.owner = config_.app.enableAuth           ? context.principal.actorId()
                : workerId && !workerId->empty() ? *workerId
                                                 : "worker-" + core::newLeaseToken().substr(0, 8);
  lease.length = std::chrono::milliseconds(
      static_cast<std::int64_t>(leaseSeconds.value_or(config_.jobs.leaseSeconds) * 1000));
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(static_cast<std::int64_t>(waitSeconds.value_or(0) * 1000));
  // Counted while it waits; the guard uncounts it however the coroutine ends.
  struct Waiter {
    std::atomic<int>* count = nullptr;
    ~Waiter() {
      if (count) (*count)--;
    }
  } waiter;
  std::optional<model::Job> claimed;
  while (true) {
    // Read before the claim looks: a job queued after the look ends the wait at once.
    const auto seen = service_.queued().generation();
    auto claiming = service_.onStoreDurable(
        service_.anyLane(),
        [this, filter, lease](storage::Store&) { return service_.claimNextNow(filter, lease); });
    claimed = co_await std::move(claiming);
    const auto now = std::chrono::steady_clock::now();
    if (claimed || now >= deadline) break;
    if (!waiter.count) {
      if (claimWaiters_.fetch_add(1) >= kMaxClaimWaiters) {
        claimWaiters_--;
        break;
      }
      waiter.count = &claimWaiters_;
    }
    co_await service_.queued().wait(
        seen, std::min<std::chrono::steady_clock::duration>(kClaimPoll, deadline - now));
  }
  if (!claimed) {
    HttpResponse none;
    none.status = 204;  // nothing queued of these types
    none.contentType.clear();
    co_return none;
  }
  auto o = model::jobResource(*claimed);
  o["leaseToken"] = claimed->leaseToken;
  o["leaseOwner"] = claimed->leaseOwner;
  o["leaseExpiresAt"] = core::isoFromMillis(claimed->leaseExpiresAt);
  o["leaseSeconds"] = static_cast<double>(claimed->leaseMillis) / 1000.0;
  co_return jsonResponse(200, o);
}

asio::awaitable<HttpResponse> RestApi::getJob(const Ctx& context, const std::string& jobId) {
  auto reading = service_.onStore([jobId](storage::Store& s) { return s.getJob(jobId); });
  auto job = co_await std::move(reading);
  if (!job || !maySee(context, job->userId)) co_return problem(404, "Job " + jobId + " not found.");
  co_return jsonTextResponse(200, model::jobResourceJson(*job));
}

asio::awaitable<HttpResponse> RestApi::listJobs(const Ctx& context) {
  const auto& request = context.request;
  HttpResponse error;
  storage::JobFilter filter;
  auto limit = parseLimit(request, 100, 1000, error);
  if (!limit) co_return error;
  filter.limit = *limit;
  if (auto s = core::queryValue(request.query, "status"); s && !s->empty()) {
    filter.status = model::parseJobStatus(*s);
    if (!filter.status) {
      co_return problem(400,
                        "status must be one of Pending, Running, Completed, Failed, Cancelled.");
    }
  }
  if (auto u = core::queryValue(request.query, "userId"); u && !u->empty()) filter.userId = *u;
  if (auto v = core::queryValue(request.query, "videoId"); v && !v->empty()) filter.videoId = *v;
  if (auto t = core::queryValue(request.query, "jobType"); t && !t->empty()) filter.jobType = *t;
  if (auto o = core::queryValue(request.query, "offset"); o && !o->empty()) {
    // Bounded so a page far past the end stays one cheap query, not an overflow.
    constexpr int kMaxOffset = 1000000;
    try {
      std::size_t pos = 0;
      int n = std::stoi(*o, &pos);
      if (pos != o->size() || n < 0 || n > kMaxOffset) throw std::out_of_range("offset");
      filter.offset = n;
    } catch (const std::exception&) {
      co_return problem(400,
                        "offset must be an integer from 0 to " + std::to_string(kMaxOffset) + ".");
    }
  }
  // A user lists only their own jobs: another user's id in the filter finds nothing.
  if (!maySee(context, "")) {
    if (filter.userId && *filter.userId != context.principal.userId) {
      co_return jsonTextResponse(200, "[]");
    }
    filter.userId = context.principal.userId;
  }
  auto reading = service_.onStore([filter](storage::Store& s) { return s.listJobs(filter); });
  auto list = co_await std::move(reading);
  json::array out;
  for (const auto& job : list) out.push_back(model::jobResource(job));
  co_return jsonResponse(200, out);
}

asio::awaitable<HttpResponse> RestApi::history(const Ctx& context, const std::string& jobId) {
  const auto& request = context.request;
  HttpResponse error;
  // Pages of at most 1000 (each entry carries the job's metadata then, up to
  // Jobs:MaxMetadataBytes): one request once built a 901 MB answer on the store thread.
  auto limit = parseLimit(request, kMaxHistoryPage, kMaxHistoryPage, error);
  if (!limit) co_return error;
  std::int64_t after = 0;
  if (auto a = core::queryValue(request.query, "afterSequence"); a && !a->empty()) {
    try {
      std::size_t pos = 0;
      after = std::stoll(*a, &pos);
      if (pos != a->size() || after < 0) throw std::out_of_range("after");
    } catch (const std::exception&) {
      co_return problem(400, "afterSequence must be a non-negative integer.");
    }
  }
  int n = *limit;
  auto reading =
      service_.onStore([this, &context, jobId, after,
                        n](storage::Store& s) -> std::optional<std::vector<model::ProgressEntry>> {
        auto job = s.getJob(jobId);
        if (!job || !maySee(context, job->userId)) return std::nullopt;
        return s.progressHistory(jobId, after, n);
      });
  auto entries = co_await std::move(reading);
  if (!entries) co_return problem(404, "Job " + jobId + " not found.");
  json::array out;
  for (const auto& e : *entries) out.push_back(model::progressEntryResource(e));
  auto response = jsonResponse(200, out);
  if (!entries->empty() && entries->size() == static_cast<std::size_t>(n)) {
    response.headers.emplace_back(
        // The job exists, so its id is one Herald made (a UUID): nothing to escape.
        "Link", "</api/v1/jobs/" + jobId +
                    "/progress?afterSequence=" + std::to_string(entries->back().sequence) +
                    "&limit=" + std::to_string(n) + ">; rel=\"next\"");
  }
  co_return response;
}

asio::awaitable<HttpResponse> RestApi::getVideo(const Ctx& context, const std::string& videoId) {
  auto reading = service_.onStore(
      [this, &context, videoId](
          storage::Store& s) -> std::optional<std::pair<model::Video, std::vector<model::Job>>> {
        auto video = s.getVideo(videoId);
        if (!video || !maySee(context, video->userId)) return std::nullopt;
        storage::JobFilter filter;
        filter.videoId = videoId;
        filter.limit = 1000;
        return std::make_pair(std::move(*video), s.listJobs(filter));
      });
  auto found = co_await std::move(reading);
  if (!found) co_return problem(404, "Video " + videoId + " not found.");
  auto o = model::videoProgressUpdate(found->first);
  o["userId"] =
      found->first.userId.empty() ? json::value(nullptr) : json::value(found->first.userId);
  o["url"] = found->first.url;
  o["title"] = found->first.title;
  o["durationSeconds"] = model::numberValue(found->first.durationSeconds);
  json::array jobs;
  for (const auto& j : found->second) {
    json::object jo;
    jo["jobId"] = j.id;
    jo["jobType"] = j.jobType;
    jo["status"] = model::toString(j.status);
    jo["progress"] = model::numberValue(j.progress);
    jobs.push_back(std::move(jo));
  }
  o["jobs"] = std::move(jobs);
  co_return jsonResponse(200, o);
}

asio::awaitable<HttpResponse> RestApi::ingest(const Ctx& context) {
  const auto& request = context.request;
  HttpResponse error;
  auto body = parseBody(request, error);
  if (!body) co_return error;
  json::object errors;
  auto url = optionalString(*body, "url", errors, 4096);
  auto userId = optionalString(*body, "userId", errors, kMaxIdLength);
  int priority = 0;
  if (auto p = optionalNumber(*body, "priority", errors)) {
    if (*p < 0 || *p > 3 || *p != static_cast<int>(*p))
      errors["priority"] = "must be 0, 1, 2 or 3";
    else
      priority = static_cast<int>(*p);
  }
  std::optional<MediaUrl> media;
  const char* rejectReason = nullptr;
  if (!url && !errors.contains("url")) {
    errors["url"] = "is required";
  } else if (url) {
    std::string why;
    auto refusal = core::MediaUrlRefusal::Invalid;
    media = core::classifyMediaUrl(*url, config::mediaUrlPolicy(config_), why, &refusal);
    if (media && media->source == MediaSource::LocalFile &&
        !core::lexicallyWithinRoots(media->path, config_.app.localFileRoots)) {
      // Lexical here (no file-system calls on an I/O thread); the job checks again on the
      // resolved path, where a symlink out of the roots is refused.
      why = "local file " + media->path +
            " is outside the folders this server may read (AppSettings:LocalFileRoots)";
      refusal = core::MediaUrlRefusal::LocalFilesOff;
      media.reset();
    }
    if (!media) {
      errors["url"] = why;
      if (refusal == core::MediaUrlRefusal::PrivateHost) rejectReason = "private_address";
      if (refusal == core::MediaUrlRefusal::LocalFilesOff) rejectReason = "local_file";
    }
  }
  if (!errors.empty()) {
    auto refused = problem(400, "The ingest request is invalid.", std::move(errors));
    if (rejectReason) refused.rejectReason = rejectReason;
    co_return refused;
  }

  jobs::NewVideo spec;
  spec.url = *url;
  // With authentication the token names the owner; a body's userId is ignored (else any
  // user could file videos under another's name and into their event stream).
  spec.userId = config_.app.enableAuth ? context.principal.userId : userId.value_or("");
  spec.priority = priority;
  spec.maxAttempts = config_.jobs.maxAttempts;
  spec.transcribe = config_.app.autoTranscribe;
  spec.embed = config_.app.autoGenerateEmbeddings;
  spec.metadata["url"] = *url;
  spec.metadata["source"] = media->source == MediaSource::YouTube ? "youtube"
                            : media->source == MediaSource::Http  ? "http"
                                                                  : "file";
  if (media->source == MediaSource::LocalFile) spec.metadata["path"] = media->path;
  auto creating = service_.ingestVideo(std::move(spec));
  auto job = co_await std::move(creating);
  engine_.wake();
  auto o = model::jobResource(job);
  o["videoId"] = job.videoId;
  auto response = jsonResponse(202, o);
  response.headers.emplace_back("Location", "/api/v1/jobs/" + job.id);
  co_return response;
}

asio::awaitable<HttpResponse> RestApi::transcript(const Ctx& context, const std::string& videoId) {
  auto reading = service_.onStore(
      [this, &context,
       videoId](storage::Store& s) -> std::optional<std::vector<model::TranscriptSegment>> {
        auto video = s.getVideo(videoId);
        if (!video || !maySee(context, video->userId)) return std::nullopt;
        return s.transcript(videoId);
      });
  auto segments = co_await std::move(reading);
  if (!segments) co_return problem(404, "Video " + videoId + " not found.");
  json::object o;
  o["videoId"] = videoId;
  json::array list;
  std::string text;
  for (const auto& seg : *segments) {
    json::object so;
    so["start"] = seg.start;
    so["end"] = seg.end;
    so["text"] = seg.text;
    list.push_back(std::move(so));
    if (!text.empty()) text += ' ';
    text += seg.text;
  }
  o["segments"] = std::move(list);
  o["text"] = text;
  co_return jsonResponse(200, o);
}

asio::awaitable<HttpResponse> RestApi::cancel(const Ctx& context, const std::string& jobId) {
  // On the job's lane: ordered with its reports and its pipeline's bookkeeping.
  auto finding = service_.laneOfJobId(jobId);
  const auto lane = co_await std::move(finding);
  auto cancelling = service_.onStoreDurable(
      lane,
      [this, &context,
       jobId](storage::Store& s) -> std::pair<jobs::CancelOutcome, std::optional<model::Job>> {
        // Checked on the store thread, right before the cancel: nothing can change the
        // job's owner in between.
        if (auto found = s.getJob(jobId); !found || !maySee(context, found->userId)) {
          return {jobs::CancelOutcome::NotFound, std::nullopt};
        }
        auto outcome = engine_.cancelOnStore(jobId);
        return {outcome, s.getJob(jobId)};
      });
  auto [outcome, job] = co_await std::move(cancelling);
  switch (outcome) {
    case jobs::CancelOutcome::NotFound: co_return problem(404, "Job " + jobId + " not found.");
    case jobs::CancelOutcome::AlreadyFinished:
      co_return problem(409, "Job " + jobId + " has already ended (" +
                                 std::string(model::toString(job->status)) + ").");
    case jobs::CancelOutcome::Cancelling:
    case jobs::CancelOutcome::Cancelled: break;
  }
  auto o = model::jobResource(*job);
  o["cancellation"] = outcome == jobs::CancelOutcome::Cancelled ? "Cancelled" : "Cancelling";
  co_return jsonResponse(202, o);
}

asio::awaitable<HttpResponse> RestApi::retry(const Ctx& context, const std::string& jobId) {
  auto finding = service_.laneOfJobId(jobId);
  const auto lane = co_await std::move(finding);
  auto requeueing = service_.onStoreDurable(lane, [this, &context, jobId](storage::Store& s) {
    if (auto found = s.getJob(jobId); !found || !maySee(context, found->userId)) {
      jobs::ReportResult none;
      none.outcome = jobs::ReportOutcome::NotFound;
      return none;
    }
    return service_.requeueNow(jobId);
  });
  auto result = co_await std::move(requeueing);
  switch (result.outcome) {
    case jobs::ReportOutcome::NotFound: co_return problem(404, "Job " + jobId + " not found.");
    case jobs::ReportOutcome::AlreadyFinished:
    case jobs::ReportOutcome::LeaseLost:  // requeueNow is not fenced
    case jobs::ReportOutcome::Refused:    // nor limited
      co_return problem(409, "Only Failed or Cancelled jobs can be retried; job " + jobId + " is " +
                                 std::string(model::toString(result.job.status)) + ".");
    case jobs::ReportOutcome::Recorded: break;
  }
  engine_.wake();
  co_return jsonTextResponse(202, model::jobResourceJson(result.job));
}

}  // namespace herald::api
