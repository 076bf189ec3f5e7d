#pragma once
// Drives one hub connection from the bytes a transport receives: handshake (with its
// timeout and size limit), framing into messages, dispatch one invocation at a time
// (ASP.NET's MaximumParallelInvocationsPerClient = 1), keep-alive pings and the client
// timeout. Transport-agnostic: WebSockets today, SSE and long polling feed it the same.
//
// Time: every decision (handshake timeout, client timeout, keep-alive, close timeout)
// reads HubServices::clock, never std::chrono directly. The transport's once-a-second
// ticker calls onTick(now) with that clock's time; a test calls onTick() after advancing
// a ManualClock, so no test sleeps. Sends are observed through
// HubConnection::enqueuedCount() at each tick, so a keep-alive Ping may leave up to one
// tick after KeepAliveInterval of silence, never before.
//
// Thread safety: not thread-safe; a transport calls it from one executor only.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "config/config.h"
#include "core/clock.h"
#include "hub/hub_dispatcher.h"
#include "limits/token_bucket.h"

namespace herald::hub {

struct HubServices {
  const HubDispatcher& dispatcher;
  HubLifetimeManager& lifetime;
  backplane::Backplane& backplane;
  const config::SignalRSettings& settings;
  const protocol::HubProtocol& json;
  const protocol::HubProtocol& messagePack;
  // Where timeouts and keep-alives read the time; tests pass a ManualClock.
  const core::Clock& clock = core::systemClock();
  // The invocation rate limit (Limits:*); null: none (tests that do not test it).
  const config::LimitsSettings* limits = nullptr;
  // Where stateful connections are mirrored for adoption by another node (a cluster
  // with Redis); null: none, and nothing of adoption costs anything.
  std::shared_ptr<SessionMirror> mirror{};
};

// What the transport under a connection can do.
struct TransportFeatures {
  bool binary = true;              // false for Server-Sent Events (text only)
  bool inherentKeepAlive = false;  // long polling: no pings, no client timeout
  bool statefulReconnect = false;  // negotiated (WebSockets only)
};

// What a tick found; the transport acts on Abort.
enum class TickResult {
  Open,    // the connection goes on
  Ending,  // it is ending: the writer flushes what is queued (a Close last) and closes
  Abort,   // it has been ending for longer than kCloseTimeout: drop the transport now
};

class ConnectionHandler {
 public:
  using TimePoint = core::Clock::SteadyTime;

  // A connection that is ending gets this long to flush its Close and finish the closing
  // handshake (ASP.NET's CloseTimeout); a client that stopped reading cannot hold its
  // socket and buffers for longer than that. Counted from the first tick that sees the
  // connection closing, so it may run up to one tick longer.
  static constexpr std::chrono::seconds kCloseTimeout{5};

  ConnectionHandler(HubConnectionPtr connection, HubServices services, TransportFeatures features);

  // Feeds received bytes. Returns false when the connection must end (a Close or a
  // handshake error has been queued already, or the client closed).
  boost::asio::awaitable<bool> onData(std::string_view bytes);

  // Called about once a second with `now` read from services.clock (the ticker reads
  // it once for many connections): handshake and client timeouts, keep-alive Ping,
  // stateful Acks, the close timeout.
  TickResult onTick(TimePoint now);
  // The same, reading services.clock itself (for tests).
  TickResult onTick() { return onTick(services_.clock.steadyNow()); }

  // The transport is gone: leave groups, unregister. Idempotent.
  void onClosed();

  // A new socket took over a stateful connection: drop any partial inbound message.
  void onReattached();

  // Adoption: the connection continues one another node mirrored (the handshake was done
  // there). Sets the protocol, registers the connection and lets the app rejoin its
  // groups. False when the mirrored protocol is unknown here.
  boost::asio::awaitable<bool> adopt(const SessionState& state);

  bool handshakeDone() const { return handshakeDone_; }
  const HubConnectionPtr& connection() const { return connection_; }

 private:
  boost::asio::awaitable<bool> onHandshake();
  void closeWithError(const std::string& detail);
  // Limits:InvocationsPerConnectionPerSecond. False when the invocation is refused: it
  // has been answered with a completion error (when it has an id), or, after
  // InvocationAbuseCloseSeconds over the limit, the connection is closing.
  bool admitInvocation(const std::optional<std::string>& invocationId, const std::string& target);

  // Stateful reconnect, receiving side: duplicates of replayed messages are dropped.
  bool acceptTrackable();
  // Records `now` as the last send if frames were queued since the last look.
  void noteSent(TimePoint now);

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
  // Adopted, and the client's Sequence not seen yet: how many of its messages the old
  // node received is unknown, so its first Sequence is taken as the truth.
  bool awaitingAdoptedSequence_ = false;
  TimePoint started_;
  TimePoint lastReceived_;
  TimePoint lastSent_;
  std::uint64_t sentCount_ = 0;                     // connection_->enqueuedCount() at lastSent_
  std::optional<TimePoint> closingSince_;           // the first tick that saw the connection ending
  std::optional<limits::TokenBucket> invocations_;  // none when the limit is off
  // The first refusal of the current run of refusals (one without a gap of a second or
  // more), and the latest: how long the client has kept over the limit.
  TimePoint overLimitSince_{};
  TimePoint lastRefused_{};
};

}  // namespace herald::hub
