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
  const protocol::HubProtocol& messagePack;
};

// What the transport under a connection can do.
struct TransportFeatures {
  bool binary = true;              // false for Server-Sent Events (text only)
  bool inherentKeepAlive = false;  // long polling: no pings, no client timeout
  bool statefulReconnect = false;  // negotiated (WebSockets only)
};

class ConnectionHandler {
 public:
  using Clock = std::chrono::steady_clock;

  ConnectionHandler(HubConnectionPtr connection, HubServices services, TransportFeatures features);

  // Feeds received bytes. Returns false when the connection must end (a Close or a
  // handshake error has been queued already, or the client closed).
  boost::asio::awaitable<bool> onData(std::string_view bytes);

  // Called about once a second. Returns false when the connection must end.
  bool onTick(Clock::time_point now);

  // The transport is gone: leave groups, unregister. Idempotent.
  void onClosed();

  // A new socket took over a stateful connection: drop any partial inbound message.
  void onReattached();

  bool handshakeDone() const { return handshakeDone_; }
  const HubConnectionPtr& connection() const { return connection_; }

 private:
  boost::asio::awaitable<bool> onHandshake();
  void closeWithError(const std::string& detail);

  // Stateful reconnect, receiving side: duplicates of replayed messages are dropped.
  bool acceptTrackable();

  HubConnectionPtr connection_;
  HubServices services_;
  TransportFeatures features_;
  std::int64_t nextExpected_ = 1;
  std::int64_t latestReceived_ = 0;
  std::int64_t lastAcked_ = 0;
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
