#pragma once
// The OpenAPI documentation of one route row: what it is called, what it takes and every
// answer it gives, each with a schema and an example. It sits in the row beside the
// handler (rest_routes.cpp), and the OpenAPI document is generated from the rows
// (openapi.h), so a route cannot exist undocumented: openapi_test fails for one.
//
// Schemas are written as one string, one of:
//   "Job"        the component schema of that name (openapi_schemas.cpp),
//   "Job[]"      an array of it,
//   "{...}"      an inline JSON Schema (JSON text), e.g. R"({"type":"string"})".
// An example is JSON text; left empty, a component's own example is used ("Job[]": an
// array of one). Errors are problem+json answers (the `Problem` component) whose example
// is built by api::problem() itself, so it has the real shape.
//
// A documented row reads:
//   RouteDoc("getJob", "Jobs")
//       .param("id", "The job's id", "3f9c0b1e6f0a4f7e")
//       .answer(200, "The job's current state", "Job")
//       .problem(404, "No job has this id", "Job 3f9c0b1e6f0a4f7e not found.")
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::api {

struct ParamDoc {
  std::string name;
  std::string in;  // "path" or "query"
  std::string description;
  std::string schema;   // as above; path parameters default to a string of 1-128 characters
  std::string example;  // JSON text; may be empty
};

struct BodyDoc {
  std::string schema;
  std::string example;
  std::string description;
};

struct ResponseDoc {
  int status = 200;
  std::string description;
  std::string contentType;  // "application/json", "application/problem+json", "text/plain"...
  std::string schema;
  std::string example;
  std::vector<std::pair<std::string, std::string>> headers;  // name, description
};

struct RouteDoc {
  std::string operationId;  // empty: the row is undocumented (a test failure)
  std::string tag;
  std::string description;  // longer than the row's one-line summary; optional
  std::vector<ParamDoc> parameters;
  std::vector<BodyDoc> body;  // at most one: the JSON request body
  std::vector<ResponseDoc> responses;

  RouteDoc() = default;
  RouteDoc(std::string operationId, std::string tag)
      : operationId(std::move(operationId)), tag(std::move(tag)) {}

  RouteDoc& describe(std::string text) {
    description = std::move(text);
    return *this;
  }
  // A `{name}` of the pattern (the generator lists every one; this adds its words).
  RouteDoc& param(std::string name, std::string text, const std::string& exampleValue = {}) {
    parameters.push_back({std::move(name), "path", std::move(text), {}, quoted(exampleValue)});
    return *this;
  }
  RouteDoc& query(std::string name, std::string text, std::string schema,
                  std::string exampleJson = {}) {
    parameters.push_back(
        {std::move(name), "query", std::move(text), std::move(schema), std::move(exampleJson)});
    return *this;
  }
  RouteDoc& request(std::string schema, std::string text, std::string exampleJson = {}) {
    body.push_back({std::move(schema), std::move(exampleJson), std::move(text)});
    return *this;
  }
  RouteDoc& answer(int status, std::string text, std::string schema, std::string exampleJson = {},
                   std::string contentType = "application/json") {
    responses.push_back({status,
                         std::move(text),
                         std::move(contentType),
                         std::move(schema),
                         std::move(exampleJson),
                         {}});
    return *this;
  }
  // An answer without a body (204).
  RouteDoc& empty(int status, std::string text) {
    responses.push_back({status, std::move(text), {}, {}, {}, {}});
    return *this;
  }
  // A problem+json answer; `detail` (and `errorsJson`, an object of field -> reason) make
  // its example.
  RouteDoc& problem(int status, std::string text, std::string_view detail,
                    std::string_view errorsJson = {});
  // A response header of the last answer.
  RouteDoc& header(std::string name, std::string text);

 private:
  static std::string quoted(const std::string& s);  // JSON string text; empty stays empty
};

}  // namespace herald::api
