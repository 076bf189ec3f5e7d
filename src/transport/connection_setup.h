#pragma once
// What every transport does with a connection's first request: create its hub side
// (HubConnection + ConnectionHandler) and start its once-a-second tick (keep-alive,
// timeouts, stateful Acks) on the home executor.
#include "transport/http_connection.h"

namespace herald::transport {

// `transport`: websockets, serversentevents or longpolling (a static string; metrics).
void setUpConnection(const HttpConnectionPtr& connection, const hub::HubServices& services,
                     hub::TransportFeatures features, ConnectionManager& manager,
                     const char* transport);

// Feeds received bytes to the connection's handler on its home executor. Returns
// false when the connection is ending.
boost::asio::awaitable<bool> deliverInbound(const HttpConnectionPtr& connection, std::string bytes);

}  // namespace herald::transport
