#pragma once
// The HTTP-request transports on the hub path: Server-Sent Events (GET with Accept:
// text/event-stream), long polling (GET), sends (POST) and long-polling close
// (DELETE), with the status codes of signalr-protocol.md section 2.
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/http_types.h"
#include "hub/connection_handler.h"
#include "transport/http_connection.h"
#include "transport/negotiate.h"

namespace herald::transport {

struct TransportContext {
  ConnectionManager& connections;
  hub::HubServices services;
  NegotiateOptions options;
  std::chrono::seconds pollTimeout{90};
};

// Serves one non-upgrade request on the hub path. Writes the response itself (SSE
// keeps the stream). Returns true when the HTTP connection may be reused.
boost::asio::awaitable<bool> serveTransportRequest(
    boost::beast::tcp_stream& stream,
    const boost::beast::http::request<boost::beast::http::string_body>& request,
    const core::HttpRequest& parsed, TransportContext& context,
    const std::vector<std::pair<std::string, std::string>>& extraHeaders);

}  // namespace herald::transport
