// The OpenAPI document generated from the REST API's route table: every row documented
// (a new route without a RouteDoc fails here), every path and operation present, every
// schema reference resolved, and an example for every body and answer. The e2e test
// (openapi.test.mjs) checks the document against the OpenAPI schema and the real answers
// against it.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>

#include "api/openapi.h"
#include "api/openapi_schemas.h"
#include "api/rest_api.h"
#include "jobs/job_engine.h"
#include "jobs/progress_service.h"
#include "storage/sqlite/sqlite_store.h"

using namespace herald;
namespace json = boost::json;

namespace {

class OpenApiTest : public ::testing::Test {
 protected:
  config::Config config;
  boost::asio::io_context storeIo;
  storage::SqliteStore store{":memory:"};
  jobs::NoJobEvents events;
  jobs::ProgressService service{store, storeIo.get_executor(), events};
  hub::HubLifetimeManager lifetime;
  jobs::JobEngine engine{service, jobs::EngineOptions{.enabled = false}};
  api::RestApi rest{config, service, lifetime, engine};

  json::object document() { return json::parse(rest.openApiJson()).as_object(); }
};

// Every "$ref" in `v` names a component that exists.
void expectRefsResolve(const json::value& v, const json::object& schemas, const std::string& at) {
  if (v.is_object()) {
    for (const auto& kv : v.as_object()) {
      if (kv.key() == "$ref") {
        std::string ref(kv.value().as_string());
        const std::string prefix = "#/components/schemas/";
        ASSERT_EQ(ref.rfind(prefix, 0), 0u) << at << ": " << ref;
        EXPECT_TRUE(schemas.contains(ref.substr(prefix.size()))) << at << ": " << ref;
      } else {
        expectRefsResolve(kv.value(), schemas, at + "/" + std::string(kv.key()));
      }
    }
  } else if (v.is_array()) {
    for (const auto& e : v.as_array()) expectRefsResolve(e, schemas, at);
  }
}

}  // namespace

TEST_F(OpenApiTest, EveryRouteIsDocumented) {
  EXPECT_EQ(api::undocumentedRoutes(rest.router().routes()), std::vector<std::string>{})
      << "give these rows a RouteDoc (see api/route_doc.h and rest_routes.cpp)";
}

TEST_F(OpenApiTest, TheDocumentHasEveryPathAndOperation) {
  auto doc = document();
  EXPECT_EQ(doc.at("openapi"), "3.1.0");
  EXPECT_EQ(doc.at("servers").as_array().at(0).as_object().at("url"), "/");
  const auto& paths = doc.at("paths").as_object();
  std::set<std::string> ids;
  for (const auto& route : rest.router().routes()) {
    const auto* item = paths.if_contains(route.pattern);
    ASSERT_NE(item, nullptr) << route.pattern;
    std::string method = route.method;
    for (auto& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto* op = item->as_object().if_contains(method);
    ASSERT_NE(op, nullptr) << route.method << " " << route.pattern;
    const auto& o = op->as_object();
    EXPECT_EQ(o.at("summary").as_string(), route.summary);
    EXPECT_TRUE(ids.insert(std::string(o.at("operationId").as_string())).second);
    // Every answer has a description and, per content type, a schema and an example.
    const auto& responses = o.at("responses").as_object();
    EXPECT_FALSE(responses.empty());
    for (const auto& [status, answer] : responses) {
      const auto& a = answer.as_object();
      EXPECT_FALSE(a.at("description").as_string().empty()) << route.pattern << " " << status;
      if (status == "204") {
        EXPECT_FALSE(a.contains("content")) << route.pattern;  // no body, nothing to describe
        continue;
      }
      for (const auto& [type, media] : a.at("content").as_object()) {
        EXPECT_TRUE(media.as_object().contains("schema")) << route.pattern << " " << status;
        EXPECT_TRUE(media.as_object().contains("example")) << route.pattern << " " << status;
        if (status.size() == 3 && status[0] >= '4') EXPECT_EQ(type, "application/problem+json");
      }
    }
    if (const auto* body = o.if_contains("requestBody")) {
      const auto& media = body->as_object().at("content").as_object().at("application/json");
      EXPECT_TRUE(media.as_object().contains("example")) << route.pattern;
    }
  }
  EXPECT_TRUE(paths.contains("/swagger/v1/swagger.json"));
}

TEST_F(OpenApiTest, EverySchemaReferenceResolves) {
  auto doc = document();
  const auto& schemas = doc.at("components").as_object().at("schemas").as_object();
  for (const char* name : {"Job", "JobProgressUpdate", "ProgressEntry", "Video", "VideoStage",
                           "TranscriptSegment", "IngestRequest", "CreateJobRequest",
                           "ProgressReport", "ConnectionInfo", "Health", "Problem"}) {
    EXPECT_TRUE(schemas.contains(name)) << name;
  }
  expectRefsResolve(doc, schemas, "#");
}

TEST_F(OpenApiTest, JobExtendsJobProgressUpdate) {
  const auto& schemas = api::schemaComponents();
  const auto& update = schemas.at("JobProgressUpdate").as_object();
  const auto& job = schemas.at("Job").as_object();
  for (const auto& kv : update.at("properties").as_object()) {
    EXPECT_TRUE(job.at("properties").as_object().contains(kv.key())) << kv.key();
  }
  EXPECT_TRUE(job.at("properties").as_object().contains("attempts"));
  EXPECT_EQ(job.at("required").as_array().size(), job.at("properties").as_object().size());
}

TEST(OpenApiGenerator, AnUndocumentedRowIsListedAndStillDescribed) {
  api::Route row{"GET", "/api/v1/things/{id}", auth::Access::Owner, "A thing", {}, {}};
  std::vector<api::Route> rows{row};
  EXPECT_EQ(api::undocumentedRoutes(rows), std::vector<std::string>{"GET /api/v1/things/{id}"});
  auto doc = api::openApiDocument(rows, {});
  const auto& op = doc.at("paths").at("/api/v1/things/{id}").at("get").as_object();
  EXPECT_EQ(op.at("x-undocumented"), true);
  // The path parameter comes from the pattern even without documentation.
  EXPECT_EQ(op.at("parameters").as_array().at(0).at("name"), "id");
}

TEST(OpenApiGenerator, ABadSchemaOrExampleNamesItsRow) {
  api::Route row{"GET", "/x", auth::Access::Anonymous, "X", {}, {}};
  row.doc = api::RouteDoc("getX", "T").answer(200, "ok", "NoSuchComponent");
  try {
    api::openApiDocument({row}, {});
    FAIL() << "accepted an unknown component";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("GET /x"), std::string::npos) << e.what();
  }
  row.doc = api::RouteDoc("getX", "T").answer(200, "ok", "Job", "{not json");
  EXPECT_THROW(api::openApiDocument({row}, {}), std::invalid_argument);
  row.doc = api::RouteDoc("getX", "T").param("nope", "not in the pattern").answer(200, "ok", "Job");
  EXPECT_THROW(api::openApiDocument({row}, {}), std::invalid_argument);
}

TEST(OpenApiGenerator, ProblemExamplesAreRealProblemBodies) {
  api::Route row{"GET", "/x", auth::Access::Anonymous, "X", {}, {}};
  row.doc = api::RouteDoc("getX", "T").problem(400, "bad", "It is bad.", R"({"a": "is wrong"})");
  auto doc = api::openApiDocument({row}, {});
  const auto& media = doc.at("paths")
                          .at("/x")
                          .at("get")
                          .at("responses")
                          .at("400")
                          .at("content")
                          .at("application/problem+json");
  const auto& example = media.at("example").as_object();
  EXPECT_EQ(example.at("status"), 400);
  EXPECT_EQ(example.at("detail"), "It is bad.");
  EXPECT_EQ(example.at("errors").at("a"), "is wrong");
  EXPECT_EQ(media.at("schema").at("$ref"), "#/components/schemas/Problem");
}
