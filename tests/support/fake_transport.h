#pragma once
// An in-memory transport for hub tests (Centrifuge's testTransport): it attaches to a
// hub::HubConnection the way the WebSocket transport does (installs the wakeup, takes
// queued frames on its executor, closes once a closing connection is drained) and feeds
// inbound bytes to the connection's ConnectionHandler. What the server sent is decoded
// with the connection's protocol, so tests assert on messages, not bytes.
//
// No sockets and no threads: everything runs on the HubHarness's io_context, which the
// transport polls whenever the test sends or reads. Time is the harness's ManualClock;
// tick() runs the handler's once-a-second duties at the clock's current time.
//
//   HubHarness hub;
//   hub.dispatcher.addMethod("Echo", 1, 1, ...);
//   auto client = hub.connect("messagepack");        // handshake done and checked
//   auto id = client->invoke("Echo", {"hi"});
//   auto completion = client->nextCompletion(id);    // std::optional<CompletionMessage>
//   hub.clock.advance(15s);
//   client->tick();
//   EXPECT_TRUE(client->next<protocol::PingMessage>());
//
// Thread safety: the wakeup may be called from any thread (it only posts to the
// io_context); everything else belongs to the test's thread.
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "backplane/backplane.h"
#include "config/config.h"
#include "hub/connection_handler.h"
#include "hub/hub_dispatcher.h"
#include "hub/hub_lifetime_manager.h"
#include "protocol/signalr/json_protocol.h"
#include "protocol/signalr/msgpack_protocol.h"
#include "support/manual_clock.h"

namespace herald::test {

class FakeTransport : public std::enable_shared_from_this<FakeTransport> {
 public:
  using Ptr = std::shared_ptr<FakeTransport>;

  // Attaches to `connection` (fresh, before its handshake) with a handler built from
  // `services`. `io` runs the handler's coroutines and the writer; it must outlive this.
  static Ptr attach(hub::HubConnectionPtr connection, const hub::HubServices& services,
                    hub::TransportFeatures features, boost::asio::io_context& io);
  // Unregisters the connection (the transport is gone) unless it ended already.
  ~FakeTransport();
  FakeTransport(const FakeTransport&) = delete;
  FakeTransport& operator=(const FakeTransport&) = delete;

  // ---- Inbound: what the client sends ---------------------------------------------
  // Each runs the handler until it has handled the bytes (dispatch included) and returns
  // what onData returned: false once the connection is ending. A handler still suspended
  // after `kReceiveBudget` (a method waiting on something that never comes) is a test
  // failure.
  bool receive(std::string_view bytes);
  // `{"protocol":"<name>","version":<v>}` + 0x1E.
  bool sendHandshake(std::string_view protocol, int version = 1);
  // Encoded with the connection's protocol (so only after a successful handshake).
  bool send(const protocol::HubMessage& message);
  // A blocking invocation with a fresh id ("1", "2", ...); returns the id.
  std::string invoke(std::string target, boost::json::array arguments = {});
  // The same without waiting for the handler: the test runs the io_context (and any
  // other executor the method awaits) itself, to interleave other work with it.
  std::string startInvoke(std::string target, boost::json::array arguments = {});
  // A non-blocking invocation (no id: the server sends no Completion).
  bool sendInvocation(std::string target, boost::json::array arguments = {});
  bool ping();
  bool close(std::optional<std::string> error = std::nullopt);

  // ---- Outbound: what the server sent ---------------------------------------------
  // Every read first runs the io_context, so frames queued so far have been taken.
  // The handshake response, once the server sent one: `{}` or `{"error":"..."}`.
  const std::optional<boost::json::object>& handshakeResponse();
  bool handshakeAccepted();  // a response without "error"
  // Decoded messages not read yet, in arrival order.
  std::size_t pendingCount();
  // The oldest unread message, removed.
  std::optional<protocol::HubMessage> nextMessage();
  // The oldest unread message of type T (PingMessage, CloseMessage, ...), removed; the
  // messages before it stay unread.
  template <class T>
  std::optional<T> next() {
    pump();
    for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
      if (auto* m = std::get_if<T>(&*it)) {
        T out = std::move(*m);
        inbox_.erase(it);
        return out;
      }
    }
    return std::nullopt;
  }
  // The oldest unread Invocation of `target` (exact name, as clients match it), removed.
  std::optional<protocol::InvocationMessage> nextInvocation(std::string_view target);
  // The oldest unread Completion (of `invocationId` when given), removed.
  std::optional<protocol::CompletionMessage> nextCompletion(
      std::optional<std::string_view> invocationId = std::nullopt);
  // Every frame taken so far, as written (the handshake response included).
  const std::vector<std::string>& rawFrames();

  // ---- The writer and the end of the connection -----------------------------------
  // A stalled writer takes nothing (a client that stopped reading); resuming takes
  // what was queued meanwhile.
  void stallWriter();
  void resumeWriter();
  // Times the connection woke the writer.
  int wakeups() const { return wakeups_; }
  // The writer found the connection closing with nothing left to write and closed the
  // transport (then, as ConnectionManager::dispose does, the handler's onClosed ran).
  bool transportClosed();
  // The client vanished without a Close (a dropped socket).
  void disconnect();

  // ---- Time ------------------------------------------------------------------------
  // Runs the handler's tick at the services' clock time (advance the clock first).
  hub::TickResult tick();

  hub::ConnectionHandler& handler() { return *handler_; }
  hub::HubConnection& connection() { return *connection_; }
  const hub::HubConnectionPtr& connectionPtr() const { return connection_; }

  static constexpr std::chrono::seconds kReceiveBudget{5};

 private:
  FakeTransport(hub::HubConnectionPtr connection, const hub::HubServices& services,
                hub::TransportFeatures features, boost::asio::io_context& io);
  void pump();   // runs ready handlers on the io_context
  void drain();  // the writer: takes queued frames, decodes them, closes when done
  void decode(const std::string& frame);
  void endTransport();

  hub::HubConnectionPtr connection_;
  std::unique_ptr<hub::ConnectionHandler> handler_;
  boost::asio::io_context& io_;
  std::vector<std::string> raw_;
  std::deque<protocol::HubMessage> inbox_;
  std::optional<boost::json::object> handshake_;
  std::vector<hub::FramePtr> taking_;
  int wakeups_ = 0;
  int nextInvocationId_ = 1;
  bool stalled_ = false;
  bool transportClosed_ = false;
};

// A hub invocation as the backplane carries it (arguments as JSON text).
inline backplane::Envelope envelopeOf(backplane::Target target,
                                      const protocol::InvocationMessage& message) {
  backplane::Envelope e;
  e.target = std::move(target);
  e.event = message.target;
  e.argumentsJson = boost::json::serialize(message.arguments);
  return e;
}

// Everything a hub connection needs, wired as server.cpp wires it but with a manual
// clock and an io_context the tests run: the services for FakeTransports. Change
// `settings` or register `dispatcher` methods before connecting.
struct HubHarness {
  HubHarness();
  ~HubHarness();

  config::SignalRSettings settings;
  ManualClock clock;
  protocol::JsonHubProtocol json;
  protocol::MessagePackHubProtocol messagePack;
  backplane::InProcessBackplane backplane;  // delivers to `lifetime`
  hub::HubLifetimeManager lifetime{&backplane};
  hub::HubDispatcher dispatcher;
  boost::asio::io_context io;
  // The Limits section, when a test turns the invocation rate limit on.
  std::optional<config::LimitsSettings> limits;

  hub::HubServices services();
  // A new connection (ids "conn-1", "conn-2", ...) with a fake transport, before its
  // handshake. The default features are a WebSocket's.
  FakeTransport::Ptr open(std::string userId = "",
                          hub::TransportFeatures features = hub::TransportFeatures{});
  // open() and a successful handshake with `protocol` ("json" or "messagepack"); a
  // refused handshake is a test failure. The handshake response has been read.
  FakeTransport::Ptr connect(std::string_view protocol = "json", std::string userId = "");

 private:
  int nextConnection_ = 1;
};

}  // namespace herald::test
