#pragma once
// The WebSockets transport: accepts the upgrade, feeds received bytes to the hub's
// ConnectionHandler and runs the connection's single writer, which drains the bounded
// outbound queue in batches (every queued frame goes out in one WebSocket message).
// A stateful connection survives its socket: a new one to the same token takes over
// and gets the unacknowledged messages replayed.
#include <atomic>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "hub/connection_handler.h"
#include "transport/http_connection.h"

namespace herald::transport {

// Answers the upgrade with 101 and runs the WebSocket on the socket's executor until it
// ends; returns at once. `request` is a checked upgrade (version 13, a valid key) and
// `attach` an Ok attach for WebSockets. `liveSockets` (optional) counts the socket while it runs,
// for graceful shutdown.
void startWebSocket(boost::asio::ip::tcp::socket socket,
                    const boost::beast::http::request<boost::beast::http::string_body>& request,
                    Attach attach, const hub::HubServices& services, ConnectionManager& manager,
                    std::atomic<int>* liveSockets);

}  // namespace herald::transport
