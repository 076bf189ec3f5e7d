#pragma once
// The REST API under /api/v1 (spec section 1): job and video state, progress history,
// and the progress API for external workers. Handlers validate everything they read;
// a bad body is a 400 problem answer and changes nothing.
#include <cstddef>
#include <optional>
#include <string>

#include <atomic>

#include <boost/asio/awaitable.hpp>

#include "api/router.h"
#include "backplane/backplane.h"
#include "auth/request_context.h"
#include "config/config.h"
#include "core/http_types.h"
#include "hub/hub_lifetime_manager.h"
#include "jobs/job_engine.h"
#include "jobs/progress_service.h"

namespace herald::api {

class RestApi {
 public:
  // Ids in paths and bodies are at most this long; a longer one in a path matches no route.
  static constexpr std::size_t kMaxIdLength = 128;

  // Builds the route table (rest_routes.cpp) and its OpenAPI document. `webRoot`: where
  // the dashboard page is read from (<webRoot>/dashboard/index.html).
  RestApi(const config::Config& config, jobs::ProgressService& service,
          hub::HubLifetimeManager& lifetime, jobs::JobEngine& engine, std::string webRoot = {});

  // Answers a request the route table (rest_routes.cpp) knows, and a 404 problem for any
  // other path under /api/v1/; nullopt for other paths (static files are tried next).
  boost::asio::awaitable<std::optional<core::HttpResponse>> handle(
      const auth::RequestContext& context);

  // The backplane /health and /health/ready report on (a networked one can be degraded).
  // Set before serving; none: nothing to report.
  void setBackplane(const backplane::Backplane* backplane) { backplane_ = backplane; }

  // The route table, for the OpenAPI description and tests.
  const Router& router() const { return router_; }
  // The OpenAPI document of the table (served at /swagger/v1/swagger.json).
  const std::string& openApiJson() const { return openApiJson_; }

 private:
  using Ctx = auth::RequestContext;
  boost::asio::awaitable<core::HttpResponse> createJob(const Ctx& context);
  boost::asio::awaitable<core::HttpResponse> reportProgress(const Ctx& context,
                                                            const std::string& jobId);
  // POST /api/v1/jobs/claim: an external worker takes a job with a lease (long poll).
  boost::asio::awaitable<core::HttpResponse> claimJob(const Ctx& context);
  boost::asio::awaitable<core::HttpResponse> getJob(const Ctx& context, const std::string& jobId);
  boost::asio::awaitable<core::HttpResponse> listJobs(const Ctx& context);
  boost::asio::awaitable<core::HttpResponse> history(const Ctx& context, const std::string& jobId);
  boost::asio::awaitable<core::HttpResponse> getVideo(const Ctx& context,
                                                      const std::string& videoId);
  boost::asio::awaitable<core::HttpResponse> ingest(const Ctx& context);
  boost::asio::awaitable<core::HttpResponse> transcript(const Ctx& context,
                                                        const std::string& videoId);
  boost::asio::awaitable<core::HttpResponse> cancel(const Ctx& context, const std::string& jobId);
  boost::asio::awaitable<core::HttpResponse> retry(const Ctx& context, const std::string& jobId);
  // Whether the caller may see a job or video of this owner (auth::maySee with this
  // server's EnableAuth); the others get the answer of an unknown id.
  bool maySee(const Ctx& context, const std::string& ownerUserId) const;
  boost::asio::awaitable<core::HttpResponse> dashboardSummary();
  core::HttpResponse dashboardPage() const;
  core::HttpResponse connectionInfo(const auth::RequestContext& context) const;
  core::HttpResponse health() const;
  boost::asio::awaitable<core::HttpResponse> metrics();
  boost::asio::awaitable<core::HttpResponse> readiness();
  // Empty when the store answered a trivial query in time, else why not.
  boost::asio::awaitable<std::string> checkStore();

  const config::Config& config_;
  jobs::ProgressService& service_;
  hub::HubLifetimeManager& lifetime_;
  jobs::JobEngine& engine_;
  const backplane::Backplane* backplane_ = nullptr;
  std::string webRoot_;
  Router router_;
  std::string openApiJson_;           // generated once the table is complete
  std::atomic<int> claimWaiters_{0};  // long polls of POST /jobs/claim waiting now
};

}  // namespace herald::api
