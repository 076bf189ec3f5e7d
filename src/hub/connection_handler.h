#pragma once
// Drives one hub connection from the bytes a transport receives: handshake (with its
// timeout and size limit), framing into messages, dispatch one invocation at a time
// (ASP.NET's MaximumParallelInvocationsPerClient = 1), keep-alive pings and the client
// timeout. Transport-agnostic: WebSockets today, SSE and long polling feed it the same.
//
// Thread safety: not thread-safe; a transport calls it from one executor only.
#include <chrono>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "config/config.h"
#include "hub/hub_dispatcher.h"

namespace herald::hub {

struct HubServices {
  const HubDispatcher& dispatcher;
  HubLifetimeManager& lifetime;
  backplane::Backplane& backplane;
  const config::SignalRSettings& settings;
  const protocol::HubProtocol& json;
};

class ConnectionHandler {
 public:
  using Clock = std::chrono::steady_clock;

  ConnectionHandler(HubConnectionPtr connection, HubServices services, bool binaryTransport);

  // Feeds received bytes. Returns false when the connection must end (a Close or a
  // handshake error has been queued already, or the client closed).
  boost::asio::awaitable<bool> onData(std::string_view bytes);

  // Called about once a second. Returns false when the connection must end.
  bool onTick(Clock::time_point now);

  // The transport is gone: leave groups, unregister. Idempotent.
  void onClosed();

  bool handshakeDone() const { return handshakeDone_; }
  const HubConnectionPtr& connection() const { return connection_; }

 private:
  boost::asio::awaitable<bool> onHandshake();
  void closeWithError(const std::string& detail);

  HubConnectionPtr connection_;
  HubServices services_;
  bool binaryTransport_;
  std::string inbound_;
  bool handshakeDone_ = false;
  bool registered_ = false;
  bool closed_ = false;
  bool clientPinged_ = false;  // ASP.NET arms the client timeout after the first ping
  bool dispatching_ = false;
  Clock::time_point started_ = Clock::now();
  Clock::time_point lastReceived_ = Clock::now();
};

}  // namespace herald::hub
