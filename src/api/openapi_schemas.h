#pragma once
// The reusable schemas of the OpenAPI document (components/schemas), each with an
// example: the shapes the REST API reads and writes (model/json_mapping.cpp, rest_api.cpp)
// and the problem+json error. Response objects list every field as required and allow no
// others, so the e2e test (openapi.test.mjs), which checks each real answer against its
// schema, fails when an answer and its documentation part.
#include <boost/json/object.hpp>

namespace herald::api {

// {"Job": {...schema, "examples": [...]}, ...} in OpenAPI 3.1 (JSON Schema 2020-12) form.
// Built once; the same object for every caller.
const boost::json::object& schemaComponents();

}  // namespace herald::api
