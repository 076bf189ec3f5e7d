#pragma once
// The WebSockets transport: accepts the upgrade, feeds received bytes to the hub's
// ConnectionHandler and runs the connection's single writer, which drains the bounded
// outbound queue in batches (every queued frame goes out in one WebSocket message).
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "hub/connection_handler.h"
#include "transport/connection_manager.h"

namespace herald::transport {

// Runs until the connection ends. `connection` is already claimed for WebSockets;
// it is removed from `manager` when the socket closes.
boost::asio::awaitable<void> runWebSocket(
    boost::beast::tcp_stream stream,
    boost::beast::http::request<boost::beast::http::string_body> request,
    TransportConnectionPtr connection, hub::HubServices services, ConnectionManager& manager);

}  // namespace herald::transport
