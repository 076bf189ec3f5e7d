#pragma once
// Generates the OpenAPI 3.1 document of a route table: every row is one operation, with
// its path parameters taken from the pattern, and its parameters, request body and
// answers from the row's RouteDoc (route_doc.h). Pure: rows in, JSON out; no I/O. The
// server generates it once, after its table is complete, and serves it at
// /swagger/v1/swagger.json.
//
// A row without documentation still appears (with its summary and `x-undocumented`), so
// the server keeps working, but undocumentedRoutes() names it and openapi_test fails.
#include <string>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "api/router.h"

namespace herald::api {

struct OpenApiInfo {
  std::string title;
  std::string version;
  std::string description;
  std::vector<std::pair<std::string, std::string>> tags;  // name, description; in this order
};

// Throws std::invalid_argument naming the row for a schema, example or component
// reference that is not valid (a programming error, caught by the unit test).
boost::json::object openApiDocument(const std::vector<Route>& routes, const OpenApiInfo& info);

// "GET /path" of every row without an operationId or without an answer.
std::vector<std::string> undocumentedRoutes(const std::vector<Route>& routes);

}  // namespace herald::api
