#pragma once
// The HTTP listener: accepts on one io_context and spreads sessions over all of them
// (one per core), parses requests with Beast, builds each request's context (the
// request and its principal, from the Authenticator) and routes it: negotiate and the
// hub's transports (WebSocket upgrade, SSE, long polling), the REST API's route table,
// static files. Hub and REST paths match case-insensitively, with or without a trailing
// slash (as ASP.NET Core's routing); static files are files, matched as written.
//
// Thread safety: start/stop from the owning thread; sessions run on their io_context.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "api/rest_api.h"
#include "auth/authenticator.h"
#include "config/config.h"
#include "hub/connection_handler.h"
#include "transport/http_connection.h"
#include "transport/http_transports.h"
#include "transport/negotiate.h"

namespace herald::http {

struct Routes {
  api::RestApi& rest;
  // Fills the principal of every request, once, right after it is parsed.
  const auth::Authenticator& authenticator;
  transport::TransportContext transport;
  std::string webRoot;
};

class HttpServer {
 public:
  HttpServer(std::vector<boost::asio::io_context*> contexts, const config::Config& config,
             Routes routes);
  ~HttpServer();

  // Binds and starts accepting. Throws std::system_error when the address is taken.
  void start();
  void stopAccepting();
  // Requests being served plus open WebSocket sessions.
  int activeRequests() const { return activeRequests_.load(); }
  int activeSockets() const { return activeSockets_.load(); }
  unsigned short boundPort() const { return boundPort_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<int> activeRequests_{0};
  std::atomic<int> activeSockets_{0};
  unsigned short boundPort_ = 0;
};

}  // namespace herald::http
