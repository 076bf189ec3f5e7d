#pragma once
// Adoption, the transport's part (docs/architecture.md, "Adoption"): a stateful client
// whose node died reattaches its WebSocket, through the balancer, to a node that does not
// hold its connection. That node takes the session over from the mirror
// (hub/session_mirror.h) and sets the connection up as if it had been here all along:
// same id and token, its groups, its unacknowledged frames ready to replay after the
// Sequence message.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "transport/http_connection.h"

namespace herald::transport {

// (A coroutine: `executor` is taken by value, the references must outlive it.)
// `token`: the reattaching socket's ?id=. `principal`: the upgrade request's; with
// `sameUserOnly` (authentication on), a session of another user is not taken. Runs on
// `executor`, which becomes the connection's home. An Ok attach (reattach) or NotFound.
boost::asio::awaitable<Attach> adoptConnection(const std::string& token,
                                               const auth::Principal& principal, bool sameUserOnly,
                                               boost::asio::any_io_executor executor,
                                               ConnectionManager& connections,
                                               const hub::HubServices& services);

// A stateful WebSocket reattaching to a connection this node holds: whether the node still
// owns it. False when another node adopted it meanwhile (the client's socket dropped and
// came back through another node, then dropped again and came back here): the caller
// disposes this stale copy and adopts the session afresh. True at once when the
// connection is not mirrored.
boost::asio::awaitable<bool> stillOwned(const HttpConnectionPtr& connection);

}  // namespace herald::transport
