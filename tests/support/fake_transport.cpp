#include "support/fake_transport.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "protocol/signalr/handshake.h"

namespace herald::test {

namespace asio = boost::asio;
namespace json = boost::json;

FakeTransport::Ptr FakeTransport::attach(hub::HubConnectionPtr connection,
                                         const hub::HubServices& services,
                                         hub::TransportFeatures features, asio::io_context& io) {
  Ptr t(new FakeTransport(std::move(connection), services, features, io));
  // As the WebSocket transport does: the wakeup only schedules the writer on the
  // transport's executor; frames are taken there, never inside the enqueue.
  t->connection_->setWakeup([weak = std::weak_ptr<FakeTransport>(t), &io] {
    asio::post(io, [weak] {
      if (auto self = weak.lock()) {
        ++self->wakeups_;
        self->drain();
      }
    });
  });
  return t;
}

FakeTransport::FakeTransport(hub::HubConnectionPtr connection, const hub::HubServices& services,
                             hub::TransportFeatures features, asio::io_context& io)
    : connection_(std::move(connection)),
      handler_(std::make_unique<hub::ConnectionHandler>(connection_, services, features)),
      io_(io) {}

FakeTransport::~FakeTransport() {
  connection_->setWakeup({});
  handler_->onClosed();  // idempotent: unregisters unless the transport ended already
}

// ---- Inbound ---------------------------------------------------------------------

std::string FakeTransport::startInvoke(std::string target, boost::json::array arguments) {
  protocol::InvocationMessage m;
  m.invocationId = std::to_string(nextInvocationId_++);
  m.target = std::move(target);
  m.arguments = std::move(arguments);
  std::string bytes;
  connection_->protocol()->write(protocol::HubMessage(m), bytes);
  auto* handler = handler_.get();
  asio::co_spawn(
      io_,
      [handler, data = std::move(bytes)]() -> asio::awaitable<bool> {
        co_return co_await handler->onData(data);
      },
      [](std::exception_ptr e, bool) {
        if (e) ADD_FAILURE() << "ConnectionHandler::onData threw";
      });
  return *m.invocationId;
}

bool FakeTransport::receive(std::string_view bytes) {
  auto result = std::make_shared<std::optional<bool>>();
  auto* handler = handler_.get();
  asio::co_spawn(
      io_,
      [handler, data = std::string(bytes)]() -> asio::awaitable<bool> {
        co_return co_await handler->onData(data);
      },
      [result](std::exception_ptr e, bool accepted) {
        if (e) {
          ADD_FAILURE() << "ConnectionHandler::onData threw";
          accepted = false;
        }
        *result = accepted;
      });
  // Usually done after one poll; a hub method that awaits work on another thread gets
  // the io_context run until its completion is posted back (no sleeping).
  const auto deadline = std::chrono::steady_clock::now() + kReceiveBudget;
  pump();
  while (!*result && std::chrono::steady_clock::now() < deadline) {
    io_.restart();
    if (io_.run_one_for(std::chrono::milliseconds(10)) == 0 && io_.stopped()) break;
  }
  pump();
  if (!*result) {
    ADD_FAILURE() << "the handler did not finish handling the bytes";
    return false;
  }
  return **result;
}

bool FakeTransport::sendHandshake(std::string_view protocol, int version) {
  json::object request;
  request["protocol"] = protocol;
  request["version"] = version;
  return receive(json::serialize(request) + protocol::kRecordSeparator);
}

bool FakeTransport::send(const protocol::HubMessage& message) {
  const auto* p = connection_->protocol();
  if (!p) {
    ADD_FAILURE() << "FakeTransport::send before a successful handshake";
    return false;
  }
  std::string bytes;
  p->write(message, bytes);
  return receive(bytes);
}

std::string FakeTransport::invoke(std::string target, json::array arguments) {
  protocol::InvocationMessage m;
  m.invocationId = std::to_string(nextInvocationId_++);
  m.target = std::move(target);
  m.arguments = std::move(arguments);
  send(m);
  return *m.invocationId;
}

bool FakeTransport::sendInvocation(std::string target, json::array arguments) {
  protocol::InvocationMessage m;
  m.target = std::move(target);
  m.arguments = std::move(arguments);
  return send(m);
}

bool FakeTransport::ping() { return send(protocol::PingMessage{}); }

bool FakeTransport::close(std::optional<std::string> error) {
  return send(protocol::CloseMessage{std::move(error), false});
}

// ---- Outbound --------------------------------------------------------------------

void FakeTransport::pump() {
  io_.restart();
  io_.poll();
}

void FakeTransport::drain() {
  if (stalled_ || transportClosed_) return;
  bool binary = false;
  taking_.clear();
  const bool closing = connection_->takeQueued(taking_, binary);
  for (const auto& frame : taking_) {
    raw_.push_back(*frame);
    decode(*frame);
  }
  taking_.clear();
  // Like the WebSocket writer: a closing connection whose last frame is out ends the
  // transport (nothing can be queued once it is closing).
  if (closing) endTransport();
}

void FakeTransport::endTransport() {
  if (transportClosed_) return;
  transportClosed_ = true;
  // ConnectionManager::dispose posts onClosed to the connection's home executor.
  asio::post(io_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->handler_->onClosed();
  });
}

void FakeTransport::decode(const std::string& frame) {
  if (!handshake_) {
    // The first frame is the handshake response: JSON text and 0x1E, whatever the
    // protocol chosen.
    std::string_view body(frame);
    if (body.empty() || body.back() != protocol::kRecordSeparator) {
      ADD_FAILURE() << "the handshake response is not terminated by 0x1E: " << frame;
      return;
    }
    body.remove_suffix(1);
    boost::system::error_code ec;
    auto value = json::parse(body, ec);
    if (ec || !value.is_object()) {
      ADD_FAILURE() << "the handshake response is not a JSON object: " << frame;
      return;
    }
    handshake_ = value.as_object();
    return;
  }
  const auto* p = connection_->protocol();
  if (!p) {
    ADD_FAILURE() << "a frame after a refused handshake: " << frame;
    return;
  }
  std::vector<protocol::HubMessage> messages;
  auto result = p->parse(frame, messages, std::size_t{1} << 30);  // no limit on what we read
  if (!result.ok() || result.consumed != frame.size()) {
    ADD_FAILURE() << "the server sent a frame its protocol cannot parse: " << result.error;
  }
  for (auto& m : messages) inbox_.push_back(std::move(m));
}

const std::optional<json::object>& FakeTransport::handshakeResponse() {
  pump();
  return handshake_;
}

bool FakeTransport::handshakeAccepted() {
  const auto& r = handshakeResponse();
  return r && !r->contains("error");
}

std::size_t FakeTransport::pendingCount() {
  pump();
  return inbox_.size();
}

std::optional<protocol::HubMessage> FakeTransport::nextMessage() {
  pump();
  if (inbox_.empty()) return std::nullopt;
  auto m = std::move(inbox_.front());
  inbox_.pop_front();
  return m;
}

std::optional<protocol::InvocationMessage> FakeTransport::nextInvocation(std::string_view target) {
  pump();
  for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
    auto* m = std::get_if<protocol::InvocationMessage>(&*it);
    if (m && m->target == target) {
      auto out = std::move(*m);
      inbox_.erase(it);
      return out;
    }
  }
  return std::nullopt;
}

std::optional<protocol::CompletionMessage> FakeTransport::nextCompletion(
    std::optional<std::string_view> invocationId) {
  pump();
  for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
    auto* m = std::get_if<protocol::CompletionMessage>(&*it);
    if (m && (!invocationId || m->invocationId == *invocationId)) {
      auto out = std::move(*m);
      inbox_.erase(it);
      return out;
    }
  }
  return std::nullopt;
}

const std::vector<std::string>& FakeTransport::rawFrames() {
  pump();
  return raw_;
}

// ---- The writer and the end --------------------------------------------------------

void FakeTransport::stallWriter() { stalled_ = true; }

void FakeTransport::resumeWriter() {
  stalled_ = false;
  drain();
  pump();
}

bool FakeTransport::transportClosed() {
  pump();
  return transportClosed_;
}

void FakeTransport::disconnect() {
  connection_->close(std::nullopt);
  endTransport();
  pump();
}

hub::TickResult FakeTransport::tick() {
  auto result = handler_->onTick();
  pump();
  return result;
}

// ---- HubHarness --------------------------------------------------------------------

HubHarness::HubHarness() { backplane.setLocalSink(&lifetime); }

HubHarness::~HubHarness() { backplane.setLocalSink(nullptr); }

hub::HubServices HubHarness::services() {
  hub::HubServices s{dispatcher, lifetime, backplane, settings, json, messagePack, clock};
  s.limits = limits ? &*limits : nullptr;
  return s;
}

FakeTransport::Ptr HubHarness::open(std::string userId, hub::TransportFeatures features) {
  auto connection =
      std::make_shared<hub::HubConnection>("conn-" + std::to_string(nextConnection_++),
                                           std::move(userId), settings.maxOutboundQueueBytes);
  return FakeTransport::attach(std::move(connection), services(), features, io);
}

FakeTransport::Ptr HubHarness::connect(std::string_view protocol, std::string userId) {
  auto t = open(std::move(userId));
  EXPECT_TRUE(t->sendHandshake(protocol)) << "handshake with " << protocol;
  EXPECT_TRUE(t->handshakeAccepted()) << "handshake with " << protocol << " refused";
  return t;
}

}  // namespace herald::test
