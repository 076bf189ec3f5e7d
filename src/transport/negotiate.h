#pragma once
// POST {hub}/negotiate: picks the negotiate version, creates the connection and lists
// the transports in preference order (signalr-protocol.md section 1).
#include "auth/principal.h"
#include "core/http_types.h"
#include "transport/http_connection.h"

namespace herald::transport {

struct NegotiateOptions {
  bool webSockets = true;
  bool serverSentEvents = true;
  bool longPolling = true;
  bool statefulReconnect = true;  // allowed when a client asks for it
};

// `principal`: the negotiate request's (auth::RequestContext); the connection keeps it.
// `lease`: its place in the connection limits (given back if no connection is made).
core::HttpResponse negotiate(const core::HttpRequest& request, ConnectionManager& connections,
                             const NegotiateOptions& options, const auth::Principal& principal,
                             limits::ConnectionLease lease = {});

}  // namespace herald::transport
