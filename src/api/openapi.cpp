#include "api/openapi.h"

#include <stdexcept>
#include <string_view>

#include <boost/json/parse.hpp>

#include "api/openapi_schemas.h"
#include "core/strings.h"

namespace herald::api {

namespace json = boost::json;

namespace {

constexpr std::string_view kComponentPrefix = "#/components/schemas/";

// Why a row's documentation is rejected: "GET /x: ..." as an invalid_argument.
[[noreturn]] void reject(const Route& route, const std::string& why) {
  throw std::invalid_argument(route.method + " " + route.pattern + ": " + why);
}

json::value parseText(const Route& route, const std::string& text, const char* what) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) reject(route, std::string(what) + " is not JSON: " + text);
  return v;
}

json::object refTo(const Route& route, std::string_view name) {
  if (!schemaComponents().contains(name)) {
    reject(route, "no component schema named " + std::string(name));
  }
  return json::object{{"$ref", std::string(kComponentPrefix) + std::string(name)}};
}

// A schema string of route_doc.h ("Job", "Job[]", "{...}") as a JSON Schema, and the
// example that goes with it when the row gives none (null: none).
std::pair<json::value, json::value> resolveSchema(const Route& route, const std::string& schema) {
  if (schema.empty()) reject(route, "a schema is missing");
  if (schema.front() == '{') return {parseText(route, schema, "a schema"), nullptr};
  auto componentExample = [](std::string_view name) -> json::value {
    const auto& c = schemaComponents().at(name).as_object();
    if (auto* e = c.if_contains("examples"); e && !e->as_array().empty()) {
      return e->as_array().front();
    }
    return nullptr;
  };
  std::string_view name = schema;
  if (name.size() > 2 && name.substr(name.size() - 2) == "[]") {
    name.remove_suffix(2);
    json::object array{{"type", "array"}, {"items", refTo(route, name)}};
    auto item = componentExample(name);
    return {std::move(array), item.is_null() ? json::value(nullptr) : json::array{item}};
  }
  return {refTo(route, name), componentExample(name)};
}

// {"application/json": {"schema": ..., "example": ...}}
json::object content(const Route& route, const std::string& contentType, const std::string& schema,
                     const std::string& example) {
  auto [resolved, fallback] = resolveSchema(route, schema);
  json::object media{{"schema", std::move(resolved)}};
  if (!example.empty()) {
    // text/plain examples are plain text, not JSON.
    media["example"] = contentType.find("json") == std::string::npos
                           ? json::value(example)
                           : parseText(route, example, "an example");
  } else if (!fallback.is_null()) {
    media["example"] = std::move(fallback);
  }
  return json::object{{contentType, std::move(media)}};
}

const ParamDoc* findParam(const RouteDoc& doc, std::string_view name, std::string_view in) {
  for (const auto& p : doc.parameters) {
    if (p.name == name && p.in == in) return &p;
  }
  return nullptr;
}

json::array parameters(const Route& route) {
  json::array out;
  // Every `{name}` of the pattern, in order: the pattern is the truth, the doc adds words.
  std::string_view rest = route.pattern;
  for (auto open = rest.find('{'); open != std::string_view::npos; open = rest.find('{')) {
    auto close = rest.find('}', open);
    std::string name(rest.substr(open + 1, close - open - 1));
    rest.remove_prefix(close + 1);
    json::object p{{"name", name},
                   {"in", "path"},
                   {"required", true},
                   {"schema", {{"type", "string"}, {"minLength", 1}, {"maxLength", 128}}}};
    if (const auto* d = findParam(route.doc, name, "path")) {
      p["description"] = d->description;
      if (!d->example.empty()) p["example"] = parseText(route, d->example, "an example");
    }
    out.push_back(std::move(p));
  }
  for (const auto& d : route.doc.parameters) {
    if (d.in == "path") {
      if (route.pattern.find("{" + d.name + "}") == std::string::npos) {
        reject(route, "documents a path parameter the pattern lacks: " + d.name);
      }
      continue;
    }
    json::object p{{"name", d.name},
                   {"in", d.in},
                   {"required", false},
                   {"description", d.description},
                   {"schema", resolveSchema(route, d.schema).first}};
    if (!d.example.empty()) p["example"] = parseText(route, d.example, "an example");
    out.push_back(std::move(p));
  }
  return out;
}

json::object operation(const Route& route) {
  const auto& doc = route.doc;
  json::object op;
  if (!doc.operationId.empty()) op["operationId"] = doc.operationId;
  op["summary"] = route.summary;
  if (!doc.description.empty()) op["description"] = doc.description;
  if (!doc.tag.empty()) op["tags"] = json::array{json::value(doc.tag)};
  // Who may call it (auth/access.h); enforced once authentication exists.
  op["x-access"] = auth::toString(route.access);
  if (auto params = parameters(route); !params.empty()) op["parameters"] = std::move(params);
  if (doc.body.size() > 1) reject(route, "more than one request body");
  if (!doc.body.empty()) {
    const auto& b = doc.body.front();
    op["requestBody"] =
        json::object{{"required", true},
                     {"description", b.description},
                     {"content", content(route, "application/json", b.schema, b.example)}};
  }
  json::object responses;
  for (const auto& r : doc.responses) {
    auto key = std::to_string(r.status);
    if (responses.contains(key)) reject(route, "two answers for status " + key);
    json::object answer{{"description", r.description}};
    if (!r.headers.empty()) {
      json::object headers;
      for (const auto& [name, text] : r.headers) {
        headers[name] = json::object{{"description", text}, {"schema", {{"type", "string"}}}};
      }
      answer["headers"] = std::move(headers);
    }
    // 204 has no body (RouteDoc::empty): no content to describe.
    if (r.status != 204) answer["content"] = content(route, r.contentType, r.schema, r.example);
    responses[key] = std::move(answer);
  }
  if (responses.empty()) {
    op["x-undocumented"] = true;
    responses["default"] = json::object{{"description", "Not documented yet."}};
  }
  op["responses"] = std::move(responses);
  return op;
}

}  // namespace

json::object openApiDocument(const std::vector<Route>& routes, const OpenApiInfo& info) {
  json::object doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = json::object{
      {"title", info.title}, {"version", info.version}, {"description", info.description}};
  // Relative: "Try it out" calls whichever server served the document.
  doc["servers"] = json::array{json::object{{"url", "/"}}};
  json::array tags;
  for (const auto& [name, text] : info.tags) {
    tags.push_back(json::object{{"name", name}, {"description", text}});
  }
  doc["tags"] = std::move(tags);
  json::object paths;
  json::object operationIds;
  for (const auto& route : routes) {
    auto& item = paths[route.pattern];
    if (item.is_null()) item = json::object{};
    auto method = core::toLower(route.method);
    if (item.as_object().contains(method)) reject(route, "two rows for one method and path");
    const auto& id = route.doc.operationId;
    if (!id.empty() && !operationIds.emplace(id, true).second) {
      reject(route, "operationId " + id + " is used twice");
    }
    item.as_object()[method] = operation(route);
  }
  doc["paths"] = std::move(paths);
  doc["components"] = json::object{{"schemas", schemaComponents()}};
  return doc;
}

std::vector<std::string> undocumentedRoutes(const std::vector<Route>& routes) {
  std::vector<std::string> out;
  for (const auto& route : routes) {
    if (route.doc.operationId.empty() || route.doc.tag.empty() || route.doc.responses.empty()) {
      out.push_back(route.method + " " + route.pattern);
    }
  }
  return out;
}

}  // namespace herald::api
