#include "transport/negotiate.h"

#include "core/json_text.h"
#include <boost/json/value.hpp>

#include "core/strings.h"

namespace herald::transport {

namespace json = boost::json;

core::HttpResponse negotiate(const core::HttpRequest& request, ConnectionManager& connections,
                             const NegotiateOptions& options, const auth::Principal& principal,
                             limits::ConnectionLease lease) {
  core::HttpResponse response;
  if (request.method != "POST") {
    response.status = 405;
    response.contentType = "text/plain";
    response.body = "Method Not Allowed";
    response.headers.emplace_back("Allow", "POST");
    return response;
  }
  // Version problems travel in a 200 body, as ASP.NET does; clients show the text.
  int version = 0;
  if (auto v = core::queryValue(request.query, "negotiateVersion")) {
    try {
      std::size_t pos = 0;
      long n = std::stol(*v, &pos);
      if (pos != v->size()) throw std::invalid_argument("x");
      version = n >= 1 ? 1 : (n < 0 ? -1 : 0);
    } catch (const std::exception&) {
      response.body = R"({"error":"The client requested a non-integer protocol version."})";
      return response;
    }
    if (version < 0) {
      response.body = R"({"error":"The client requested version ')" + *v +
                      R"(', but the server does not support this version."})";
      return response;
    }
  }
  // Only for a client that asked: a JS 8+ client fails start() on an unasked `true`.
  bool stateful = false;
  if (auto v = core::queryValue(request.query, "useStatefulReconnect")) {
    stateful = options.statefulReconnect && core::iequals(*v, "true");
  }
  auto connection = connections.create(version, principal, stateful, std::move(lease));
  json::object body;
  body["negotiateVersion"] = version;
  body["connectionId"] = connection->connectionId;
  if (version >= 1) body["connectionToken"] = connection->token;
  json::array transports;
  auto add = [&transports](const char* name, bool binary) {
    json::object t;
    t["transport"] = name;
    json::array formats{"Text"};
    if (binary) formats.push_back("Binary");
    t["transferFormats"] = std::move(formats);
    transports.push_back(std::move(t));
  };
  if (options.webSockets) add("WebSockets", true);
  if (options.serverSentEvents) add("ServerSentEvents", false);
  if (options.longPolling) add("LongPolling", true);
  body["availableTransports"] = std::move(transports);
  if (stateful) body["useStatefulReconnect"] = true;
  response.body = core::toJson(body);
  return response;
}

}  // namespace herald::transport
