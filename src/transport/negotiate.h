#pragma once
// POST {hub}/negotiate: picks the negotiate version, creates the connection and lists
// the transports in preference order (signalr-protocol.md section 1).
#include "core/http_types.h"
#include "transport/connection_manager.h"

namespace herald::transport {

struct NegotiateOptions {
  bool webSockets = true;
  bool serverSentEvents = false;
  bool longPolling = false;
};

core::HttpResponse negotiate(const core::HttpRequest& request, ConnectionManager& connections,
                             const NegotiateOptions& options, const std::string& userId);

}  // namespace herald::transport
