// The route table on its own: matching, captures, 405 with Allow, HEAD, precedence. No
// sockets: dispatch runs on a local io_context.
#include <gtest/gtest.h>

#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "api/router.h"

using namespace herald;
using namespace herald::api;
using Result = RouteMatch::Result;

namespace {

// A handler that answers 200 with `name` and the captured id, so tests see which ran.
RouteHandler answer(std::string name) {
  return [name](const auth::RequestContext&,
                const RouteParams& p) -> boost::asio::awaitable<core::HttpResponse> {
    core::HttpResponse r;
    r.body = name + ":" + p.get("id");
    co_return r;
  };
}

Router jobsRouter() {
  Router r;
  r.add({"GET", "/api/v1/jobs", auth::Access::Owner, "list", answer("list")});
  r.add({"POST", "/api/v1/jobs", auth::Access::Worker, "create", answer("create")});
  r.add({"GET", "/api/v1/jobs/{id}", auth::Access::Owner, "get", answer("get")});
  r.add({"GET", "/api/v1/jobs/{id}/progress", auth::Access::Owner, "history", answer("history")});
  r.add({"POST", "/api/v1/jobs/{id}/progress", auth::Access::Worker, "report", answer("report")});
  r.add({"GET", "/api/v1/videos/{id}", auth::Access::Owner, "video", answer("video")});
  r.add({"POST", "/api/v1/videos/ingest", auth::Access::Authenticated, "ingest", answer("ingest")});
  return r;
}

std::optional<core::HttpResponse> run(const Router& router, std::string method, std::string path) {
  boost::asio::io_context io;
  auth::RequestContext context;
  context.request.method = std::move(method);
  context.request.path = std::move(path);
  auto future = boost::asio::co_spawn(io, router.dispatch(context), boost::asio::use_future);
  io.run();
  return future.get();
}

std::optional<std::string> header(const core::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

}  // namespace

TEST(Router, MatchesLiteralRoutesByMethod) {
  auto r = jobsRouter();
  auto list = r.match("GET", "/api/v1/jobs");
  ASSERT_EQ(list.result, Result::Matched);
  EXPECT_EQ(list.route->summary, "list");
  EXPECT_EQ(list.route->access, auth::Access::Owner);
  auto create = r.match("POST", "/api/v1/jobs");
  ASSERT_EQ(create.result, Result::Matched);
  EXPECT_EQ(create.route->summary, "create");
  EXPECT_EQ(create.route->access, auth::Access::Worker);
}

TEST(Router, CapturesIdsAsSent) {
  auto r = jobsRouter();
  auto m = r.match("POST", "/api/v1/jobs/AbC-123/progress");
  ASSERT_EQ(m.result, Result::Matched);
  EXPECT_EQ(m.route->summary, "report");
  EXPECT_EQ(m.params.get("id"), "AbC-123");  // ids keep their case
  EXPECT_EQ(m.params.get("other"), "");
  EXPECT_EQ(run(r, "GET", "/api/v1/jobs/j1")->body, "get:j1");
  EXPECT_EQ(run(r, "GET", "/api/v1/jobs/j1/progress")->body, "history:j1");
}

TEST(Router, IdLongerThanTheLimitMatchesNothing) {
  auto r = jobsRouter();
  EXPECT_EQ(r.match("GET", "/api/v1/jobs/" + std::string(128, 'x')).result, Result::Matched);
  EXPECT_EQ(r.match("GET", "/api/v1/jobs/" + std::string(129, 'x')).result, Result::NotFound);
  EXPECT_EQ(r.match("POST", "/api/v1/jobs/" + std::string(129, 'x') + "/progress").result,
            Result::NotFound);
  Router small(4);
  small.add({"GET", "/a/{id}", auth::Access::Anonymous, "a", answer("a")});
  EXPECT_EQ(small.match("GET", "/a/1234").result, Result::Matched);
  EXPECT_EQ(small.match("GET", "/a/12345").result, Result::NotFound);
}

TEST(Router, PathsMatchCaseInsensitivelyWithOrWithoutATrailingSlash) {
  auto r = jobsRouter();
  for (const char* path : {"/api/v1/jobs/", "/API/v1/Jobs", "/Api/V1/JOBS/"}) {
    auto m = r.match("GET", path);
    ASSERT_EQ(m.result, Result::Matched) << path;
    EXPECT_EQ(m.route->summary, "list") << path;
  }
  EXPECT_EQ(r.match("GET", "/API/V1/JOBS/x1/PROGRESS/").params.get("id"), "x1");
  // One trailing slash only; no empty segment stands for a parameter.
  EXPECT_EQ(r.match("GET", "/api/v1/jobs//").result, Result::NotFound);
  EXPECT_EQ(r.match("GET", "/api/v1/jobs//progress").result, Result::NotFound);
  EXPECT_EQ(r.match("GET", "/api//v1/jobs").result, Result::NotFound);
}

TEST(Router, WrongMethodIs405WithAllowListingThePathsMethods) {
  auto r = jobsRouter();
  auto m = r.match("DELETE", "/api/v1/jobs");
  EXPECT_EQ(m.result, Result::MethodNotAllowed);
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.allow, "GET, HEAD, POST");
  auto res = run(r, "DELETE", "/api/v1/jobs/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(header(*res, "Allow"), "GET, HEAD, POST");
  EXPECT_NE(res->body.find("Use GET or POST."), std::string::npos) << res->body;

  auto one = run(r, "POST", "/api/v1/jobs/j1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 405);
  EXPECT_EQ(header(*one, "Allow"), "GET, HEAD");
  // Methods are case-sensitive (RFC 9110): "get" is not GET.
  EXPECT_EQ(r.match("get", "/api/v1/jobs").result, Result::MethodNotAllowed);
}

TEST(Router, HeadIsServedByGetRoutes) {
  auto r = jobsRouter();
  auto m = r.match("HEAD", "/api/v1/jobs/j2");
  ASSERT_EQ(m.result, Result::Matched);
  EXPECT_EQ(m.route->summary, "get");
  EXPECT_EQ(r.match("HEAD", "/api/v1/videos/ingest").result, Result::Matched)
      << "HEAD has the GET /videos/{id} route";
  Router postOnly;
  postOnly.add({"POST", "/x", auth::Access::Anonymous, "x", answer("x")});
  auto head = postOnly.match("HEAD", "/x");
  EXPECT_EQ(head.result, Result::MethodNotAllowed);
  EXPECT_EQ(head.allow, "POST");
}

TEST(Router, LiteralSegmentsBeatParameters) {
  auto r = jobsRouter();
  auto ingest = r.match("POST", "/api/v1/videos/ingest");
  ASSERT_EQ(ingest.result, Result::Matched);
  EXPECT_EQ(ingest.route->summary, "ingest");
  // The literal route has no GET; the parameter route does (ASP.NET Core does the same).
  auto video = r.match("GET", "/api/v1/videos/ingest");
  ASSERT_EQ(video.result, Result::Matched);
  EXPECT_EQ(video.route->summary, "video");
  EXPECT_EQ(video.params.get("id"), "ingest");
  // Added in the other order, the literal still comes first.
  Router r2;
  r2.add({"GET", "/v/{id}", auth::Access::Anonymous, "param", answer("param")});
  r2.add({"GET", "/v/special", auth::Access::Anonymous, "literal", answer("literal")});
  EXPECT_EQ(r2.match("GET", "/v/special").route->summary, "literal");
  EXPECT_EQ(r2.match("GET", "/v/other").route->summary, "param");
  EXPECT_EQ(r2.routes().front().summary, "literal");
}

TEST(Router, NoMatchIsNotHandled) {
  auto r = jobsRouter();
  EXPECT_EQ(r.match("GET", "/index.html").result, Result::NotFound);
  EXPECT_EQ(r.match("GET", "/api/v1/jobs/j1/progress/extra").result, Result::NotFound);
  EXPECT_EQ(r.match("GET", "").result, Result::NotFound);
  EXPECT_EQ(r.match("GET", "api/v1/jobs").result, Result::NotFound);
  EXPECT_FALSE(run(r, "GET", "/api/v2/jobs"));
  EXPECT_FALSE(run(r, "GET", "/"));
}

TEST(Router, MalformedPatternsAreRefused) {
  Router r;
  auto h = answer("x");
  EXPECT_THROW(r.add({"GET", "no-slash", auth::Access::Anonymous, "", h}), std::invalid_argument);
  EXPECT_THROW(r.add({"GET", "/a//b", auth::Access::Anonymous, "", h}), std::invalid_argument);
  EXPECT_THROW(r.add({"GET", "/a/{id", auth::Access::Anonymous, "", h}), std::invalid_argument);
  EXPECT_THROW(r.add({"GET", "/a/{{id}}", auth::Access::Anonymous, "", h}), std::invalid_argument);
  EXPECT_TRUE(r.routes().empty());
}

TEST(Router, PathMatchesServesTheHubPaths) {
  for (const char* p :
       {"/hubs/job-progress", "/hubs/job-progress/", "/Hubs/Job-Progress", "/HUBS/JOB-PROGRESS/"}) {
    EXPECT_TRUE(pathMatches("/hubs/job-progress", p)) << p;
  }
  EXPECT_TRUE(pathMatches("/hubs/job-progress/negotiate", "/HUBS/job-progress/negotiate"));
  EXPECT_TRUE(pathMatches("/hubs/job-progress/negotiate", "/hubs/job-progress/negotiate/"));
  EXPECT_FALSE(pathMatches("/hubs/job-progress", "/hubs/job-progress/negotiate"));
  EXPECT_FALSE(pathMatches("/hubs/job-progress", "/hubs/job-progress//"));
  EXPECT_FALSE(pathMatches("/hubs/job-progress", "/hubs/job-progressx"));
  RouteParams params;
  EXPECT_TRUE(pathMatches("/a/{id}/b", "/A/Xy/B/", &params));
  EXPECT_EQ(params.get("id"), "Xy");
}

namespace {

std::optional<core::HttpResponse> runAs(const Router& router, std::string method, std::string path,
                                        auth::Principal principal) {
  boost::asio::io_context io;
  auth::RequestContext context;
  context.request.method = std::move(method);
  context.request.path = std::move(path);
  context.principal = std::move(principal);
  auto future = boost::asio::co_spawn(io, router.dispatch(context), boost::asio::use_future);
  io.run();
  return future.get();
}

auth::Principal user(std::string id, std::vector<std::string> roles = {}) {
  auth::Principal p;
  p.userId = std::move(id);
  p.roles = std::move(roles);
  p.authenticated = true;
  return p;
}

}  // namespace

TEST(Router, EnforcedAccessAnswers401And403) {
  auto r = jobsRouter();
  r.add({"GET", "/api/v1/dashboard/summary", auth::Access::Admin, "summary", answer("summary")});
  r.add({"GET", "/health", auth::Access::Anonymous, "health", answer("health")});
  // Not enforced (development): everything runs for an anonymous caller.
  EXPECT_EQ(runAs(r, "GET", "/api/v1/dashboard/summary", {})->status, 200);
  r.enforceAccess(true);
  EXPECT_EQ(runAs(r, "GET", "/health", {})->status, 200);
  auto none = runAs(r, "GET", "/api/v1/jobs", {});
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(header(*none, "WWW-Authenticate"), "Bearer");
  auth::Principal refused;
  refused.credentialRejected = true;
  auto bad = runAs(r, "GET", "/api/v1/jobs", refused);
  EXPECT_EQ(bad->status, 401);
  EXPECT_EQ(header(*bad, "WWW-Authenticate"), R"(Bearer error="invalid_token")");
  EXPECT_EQ(runAs(r, "GET", "/api/v1/jobs", user("alice"))->status, 200);
  EXPECT_EQ(runAs(r, "POST", "/api/v1/videos/ingest", user("alice"))->status, 200);
  EXPECT_EQ(runAs(r, "POST", "/api/v1/jobs", user("alice"))->status, 403);
  EXPECT_EQ(runAs(r, "POST", "/api/v1/jobs", user("w", {"worker"}))->status, 200);
  EXPECT_EQ(runAs(r, "POST", "/api/v1/jobs", user("root", {"admin"}))->status, 200);
  EXPECT_EQ(runAs(r, "GET", "/api/v1/dashboard/summary", user("w", {"worker"}))->status, 403);
  EXPECT_EQ(runAs(r, "GET", "/api/v1/dashboard/summary", user("root", {"admin"}))->status, 200);
  // 405 and unknown paths are answered before access is looked at.
  EXPECT_EQ(runAs(r, "DELETE", "/api/v1/jobs", {})->status, 405);
}
