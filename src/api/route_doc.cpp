#include "api/route_doc.h"

#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/problem.h"

namespace herald::api {

RouteDoc& RouteDoc::problem(int status, std::string text, std::string_view detail,
                            std::string_view errorsJson) {
  // The example is the body api::problem() really sends for this detail.
  boost::json::object errors;
  if (!errorsJson.empty()) errors = boost::json::parse(errorsJson).as_object();
  auto example = api::problem(status, detail, std::move(errors));
  responses.push_back({status,
                       std::move(text),
                       "application/problem+json",
                       "Problem",
                       std::move(example.body),
                       {}});
  return *this;
}

RouteDoc& RouteDoc::header(std::string name, std::string text) {
  if (responses.empty()) throw std::logic_error("RouteDoc::header before any answer");
  responses.back().headers.emplace_back(std::move(name), std::move(text));
  return *this;
}

std::string RouteDoc::quoted(const std::string& s) {
  return s.empty() ? std::string() : boost::json::serialize(boost::json::value(s));
}

}  // namespace herald::api
