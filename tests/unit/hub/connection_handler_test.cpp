// ConnectionHandler driven through the fake transport and a manual clock: handshake,
// timeouts, keep-alive, invocation errors, size limits and closes (ASP.NET's
// HubConnectionHandlerTests, split by topic). No sockets, no sleeps.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include "protocol/signalr/handshake.h"
#include "support/fake_transport.h"

using namespace herald;
using namespace std::chrono_literals;
using herald::test::HubHarness;
using ::testing::HasSubstr;

namespace {

std::string handshakeError(test::FakeTransport& t) {
  const auto& r = t.handshakeResponse();
  if (!r || !r->contains("error")) return {};
  return std::string(r->at("error").as_string());
}

}  // namespace

// ---- Handshake -------------------------------------------------------------------------

TEST(ConnectionHandlerHandshake, JsonIsAcceptedAndRegistersTheConnection) {
  HubHarness hub;
  auto client = hub.open();
  EXPECT_TRUE(client->sendHandshake("json"));
  EXPECT_TRUE(client->handshakeAccepted());
  ASSERT_FALSE(client->rawFrames().empty());
  EXPECT_EQ(client->rawFrames()[0], protocol::handshakeSuccess());
  EXPECT_TRUE(client->handler().handshakeDone());
  EXPECT_FALSE(client->connection().binary());
  EXPECT_EQ(hub.lifetime.connectionCount(), 1u);
  EXPECT_EQ(client->pendingCount(), 0u);  // nothing but the response
}

TEST(ConnectionHandlerHandshake, MessagePackIsAcceptedAndFramesAreBinary) {
  HubHarness hub;
  hub.dispatcher.addMethod(
      "Echo", 1, 1,
      [](hub::HubCallContext&, const boost::json::array& args)
          -> boost::asio::awaitable<boost::json::value> { co_return args[0]; });
  auto client = hub.connect("messagepack");
  EXPECT_TRUE(client->connection().binary());
  // The response is JSON text even for MessagePack; what follows is MessagePack.
  EXPECT_EQ(client->rawFrames()[0], protocol::handshakeSuccess());
  auto id = client->invoke("Echo", {"hé"});
  auto completion = client->nextCompletion(id);
  ASSERT_TRUE(completion);
  EXPECT_FALSE(completion->error);
  EXPECT_EQ(completion->result, boost::json::value("hé"));
}

TEST(ConnectionHandlerHandshake, MessagesInTheHandshakePacketAreHandled) {
  HubHarness hub;
  auto client = hub.open();
  std::string bytes = R"({"protocol":"json","version":1})"
                      "\x1e"
                      R"({"type":1,"invocationId":"7","target":"Missing","arguments":[]})"
                      "\x1e";
  EXPECT_TRUE(client->receive(bytes));
  EXPECT_TRUE(client->handshakeAccepted());
  EXPECT_TRUE(client->nextCompletion("7"));
}

TEST(ConnectionHandlerHandshake, UnknownProtocolGetsAnErrorAndTheConnectionCloses) {
  HubHarness hub;
  auto client = hub.open();
  EXPECT_FALSE(client->sendHandshake("xml"));
  EXPECT_EQ(handshakeError(*client), "The protocol 'xml' is not supported.");
  EXPECT_TRUE(client->connection().closing());
  EXPECT_TRUE(client->transportClosed());
  EXPECT_EQ(client->rawFrames().size(), 1u);  // the error response only
  EXPECT_EQ(hub.lifetime.connectionCount(), 0u);
}

TEST(ConnectionHandlerHandshake, UnsupportedVersionGetsAnError) {
  HubHarness hub;
  auto client = hub.open();
  EXPECT_FALSE(client->sendHandshake("json", 99));
  EXPECT_EQ(handshakeError(*client),
            "The server does not support version 99 of the 'json' protocol.");
  EXPECT_TRUE(client->transportClosed());
}

TEST(ConnectionHandlerHandshake, MalformedRequestGetsAnError) {
  HubHarness hub;
  auto client = hub.open();
  EXPECT_FALSE(client->receive("{not json\x1e"));
  EXPECT_FALSE(handshakeError(*client).empty());
  EXPECT_TRUE(client->transportClosed());
}

TEST(ConnectionHandlerHandshake, BinaryProtocolOnATextTransportIsRefused) {
  HubHarness hub;
  auto client = hub.open("", hub::TransportFeatures{false, false, false});  // SSE
  EXPECT_FALSE(client->sendHandshake("messagepack"));
  EXPECT_THAT(handshakeError(*client), HasSubstr("does not support 'Binary' transfer format"));
  EXPECT_TRUE(client->transportClosed());
}

TEST(ConnectionHandlerHandshake, OversizeHandshakeIsCanceled) {
  HubHarness hub;
  hub.settings.maximumReceiveMessageSize = 64;
  auto client = hub.open();
  EXPECT_TRUE(client->receive(R"({"protocol":"json",)"));  // incomplete: waits for more
  EXPECT_FALSE(client->receive(std::string(100, ' ')));
  EXPECT_EQ(handshakeError(*client), "Handshake was canceled.");
  EXPECT_TRUE(client->transportClosed());
}

// Issue 12: a long-polling POST carries the whole handshake in one body, which was parsed
// and accepted however large. Whole or in pieces, it is bounded the same.
TEST(ConnectionHandlerHandshake, OversizeHandshakeInOnePieceIsCanceled) {
  HubHarness hub;
  hub.settings.maximumReceiveMessageSize = 64;
  auto client = hub.open();
  const std::string padded =
      R"({"protocol":"json","version":1,"pad":")" + std::string(100, 'x') + "\"}\x1e";
  EXPECT_FALSE(client->receive(padded));
  EXPECT_EQ(handshakeError(*client), "Handshake was canceled.");
  EXPECT_TRUE(client->transportClosed());
  EXPECT_EQ(hub.lifetime.connectionCount(), 0u);
}

TEST(ConnectionHandlerHandshake, TimesOutOnTheInjectedClock) {
  HubHarness hub;  // HandshakeTimeout 30 s
  auto client = hub.open();
  EXPECT_TRUE(client->receive(R"({"protocol":)"));  // a partial request does not count
  hub.clock.advance(29s);
  EXPECT_EQ(client->tick(), hub::TickResult::Open);
  EXPECT_FALSE(client->handshakeResponse());
  hub.clock.advance(1s);
  EXPECT_EQ(client->tick(), hub::TickResult::Ending);
  EXPECT_EQ(handshakeError(*client), "Handshake was canceled.");
  EXPECT_TRUE(client->transportClosed());
  EXPECT_EQ(hub.lifetime.connectionCount(), 0u);
}

// ---- Keep-alive and client timeout -------------------------------------------------------

TEST(ConnectionHandlerKeepAlive, PingAfterKeepAliveIntervalOfSilence) {
  HubHarness hub;  // KeepAliveInterval 15 s
  auto client = hub.connect();
  hub.clock.advance(14s);
  client->tick();
  EXPECT_FALSE(client->next<protocol::PingMessage>());
  hub.clock.advance(1s);
  EXPECT_EQ(client->tick(), hub::TickResult::Open);
  EXPECT_TRUE(client->next<protocol::PingMessage>());
  // The Ping is traffic: the next one is due a full interval later.
  hub.clock.advance(14s);
  client->tick();
  EXPECT_FALSE(client->next<protocol::PingMessage>());
  hub.clock.advance(1s);
  client->tick();
  EXPECT_TRUE(client->next<protocol::PingMessage>());
}

TEST(ConnectionHandlerKeepAlive, OtherTrafficPostponesThePing) {
  HubHarness hub;
  auto client = hub.connect();
  hub.clock.advance(10s);
  // A broadcast reaches the connection; the next tick sees it was sent.
  hub.lifetime.addToGroup(client->connectionPtr(), "g");
  protocol::InvocationMessage update;
  update.target = "Update";
  hub.backplane.publish(test::envelopeOf(backplane::Target::group("g"), update));
  client->tick();
  EXPECT_TRUE(client->nextInvocation("Update"));
  hub.clock.advance(14s);
  client->tick();
  EXPECT_FALSE(client->next<protocol::PingMessage>());
  hub.clock.advance(1s);
  client->tick();
  EXPECT_TRUE(client->next<protocol::PingMessage>());
}

TEST(ConnectionHandlerKeepAlive, LongPollingSendsNoPings) {
  HubHarness hub;
  auto client = hub.open("", hub::TransportFeatures{true, true, false});
  ASSERT_TRUE(client->sendHandshake("json"));
  ASSERT_TRUE(client->ping());
  hub.clock.advance(10min);
  EXPECT_EQ(client->tick(), hub::TickResult::Open);
  EXPECT_EQ(client->pendingCount(), 0u);
  EXPECT_FALSE(client->connection().closing());
}

TEST(ConnectionHandlerClientTimeout, ClosesAfterClientTimeoutIntervalWithoutTraffic) {
  HubHarness hub;  // ClientTimeoutInterval 60 s
  auto client = hub.connect();
  ASSERT_TRUE(client->ping());  // arms the timeout, as in ASP.NET
  hub.clock.advance(40s);
  ASSERT_TRUE(client->ping());  // inbound traffic restarts it
  hub.clock.advance(59s);
  EXPECT_EQ(client->tick(), hub::TickResult::Open);
  EXPECT_FALSE(client->connection().closing());
  hub.clock.advance(1s);
  EXPECT_EQ(client->tick(), hub::TickResult::Ending);
  auto close = client->next<protocol::CloseMessage>();
  ASSERT_TRUE(close);
  ASSERT_TRUE(close->error);
  EXPECT_THAT(*close->error, HasSubstr("Connection closed with an error."));
  EXPECT_THAT(*close->error, HasSubstr("Server timeout elapsed"));
  EXPECT_TRUE(close->allowReconnect);
  EXPECT_TRUE(client->transportClosed());
  EXPECT_EQ(hub.lifetime.connectionCount(), 0u);
}

TEST(ConnectionHandlerClientTimeout, NotArmedBeforeTheClientsFirstPing) {
  HubHarness hub;
  auto client = hub.connect();
  hub.clock.advance(5min);
  EXPECT_EQ(client->tick(), hub::TickResult::Open);
  EXPECT_FALSE(client->connection().closing());
}

TEST(ConnectionHandlerCloseTimeout, AnEndingConnectionThatIsNotDrainedIsAborted) {
  HubHarness hub;
  auto client = hub.connect();
  ASSERT_TRUE(client->ping());
  client->stallWriter();  // the client stopped reading: the Close is never taken
  hub.clock.advance(60s);
  EXPECT_EQ(client->tick(), hub::TickResult::Ending);
  hub.clock.advance(hub::ConnectionHandler::kCloseTimeout);
  EXPECT_EQ(client->tick(), hub::TickResult::Ending);
  hub.clock.advance(1s);
  EXPECT_EQ(client->tick(), hub::TickResult::Abort);
}

// ---- Invocations, limits, closes ---------------------------------------------------------

TEST(ConnectionHandlerInvocation, UnknownMethodGetsACompletionErrorAndTheConnectionStays) {
  HubHarness hub;
  auto client = hub.connect();
  auto id = client->invoke("NoSuchMethod", {1, 2});
  auto completion = client->nextCompletion(id);
  ASSERT_TRUE(completion);
  ASSERT_TRUE(completion->error);
  EXPECT_EQ(*completion->error,
            "Failed to invoke 'NoSuchMethod' due to an error on the server. HubException: Method "
            "does not exist.");
  EXPECT_FALSE(client->connection().closing());
  // Still usable.
  EXPECT_TRUE(client->nextCompletion(client->invoke("NoSuchMethod")));
  EXPECT_FALSE(client->transportClosed());
}

TEST(ConnectionHandlerInvocation, StreamingInvocationIsRefusedWithACompletion) {
  HubHarness hub;
  auto client = hub.connect();
  protocol::StreamInvocationMessage stream;
  stream.invocationId = "s1";
  stream.target = "Anything";
  EXPECT_TRUE(client->send(stream));
  auto completion = client->nextCompletion("s1");
  ASSERT_TRUE(completion && completion->error);
  EXPECT_THAT(*completion->error, HasSubstr("non-streaming 'Anything' method"));
}

TEST(ConnectionHandlerLimits, OversizeMessageClosesWithAnError) {
  HubHarness hub;
  hub.settings.maximumReceiveMessageSize = 128;
  auto client = hub.connect();
  client->invoke("Anything", {std::string(500, 'x')});
  EXPECT_FALSE(client->nextCompletion());
  auto close = client->next<protocol::CloseMessage>();
  ASSERT_TRUE(close);
  ASSERT_TRUE(close->error);
  EXPECT_THAT(*close->error, HasSubstr("Connection closed with an error."));
  EXPECT_THAT(*close->error, HasSubstr("SignalR:MaximumReceiveMessageSize"));
  EXPECT_TRUE(client->transportClosed());
}

TEST(ConnectionHandlerLimits, OversizeMessageWithoutDetailedErrorsHidesTheReason) {
  HubHarness hub;
  hub.settings.maximumReceiveMessageSize = 128;
  hub.settings.enableDetailedErrors = false;
  auto client = hub.connect("messagepack");
  client->invoke("Anything", {std::string(500, 'x')});
  auto close = client->next<protocol::CloseMessage>();
  ASSERT_TRUE(close && close->error);
  EXPECT_EQ(*close->error, "Connection closed with an error.");
}

TEST(ConnectionHandlerClose, CloseFromTheClientEndsTheConnection) {
  HubHarness hub;
  auto client = hub.connect();
  EXPECT_EQ(hub.lifetime.connectionCount(), 1u);
  EXPECT_FALSE(client->close());
  EXPECT_TRUE(client->connection().closing());
  EXPECT_TRUE(client->transportClosed());
  EXPECT_EQ(client->pendingCount(), 0u);  // no Close is echoed
  EXPECT_EQ(hub.lifetime.connectionCount(), 0u);
  // Bytes after the end are ignored.
  EXPECT_FALSE(client->receive(R"({"type":6})"
                               "\x1e"));
}

TEST(ConnectionHandlerClose, ADroppedTransportLeavesGroups) {
  HubHarness hub;
  auto client = hub.connect("json", "alice");
  hub.lifetime.addToGroup(client->connectionPtr(), "job-1");
  client->disconnect();
  EXPECT_EQ(hub.lifetime.connectionCount(), 0u);
  protocol::InvocationMessage update;
  update.target = "Update";
  hub.backplane.publish(test::envelopeOf(backplane::Target::group("job-1"), update));
  EXPECT_EQ(hub.lifetime.stats().framesQueued, 0u);
}
