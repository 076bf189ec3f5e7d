#include "hub/connection_handler.h"

#include <spdlog/spdlog.h>

#include "protocol/signalr/handshake.h"

namespace herald::hub {

namespace asio = boost::asio;

ConnectionHandler::ConnectionHandler(HubConnectionPtr connection, HubServices services,
                                     bool binaryTransport)
    : connection_(std::move(connection)), services_(services), binaryTransport_(binaryTransport) {}

void ConnectionHandler::closeWithError(const std::string& detail) {
  protocol::CloseMessage close;
  close.error = "Connection closed with an error.";
  if (services_.settings.enableDetailedErrors && !detail.empty()) {
    *close.error += " InvalidDataException: " + detail;
  }
  close.allowReconnect = true;
  connection_->close(close);
}

asio::awaitable<bool> ConnectionHandler::onHandshake() {
  auto parsed = protocol::parseHandshakeRequest(inbound_);
  if (parsed.status == protocol::HandshakeStatus::Incomplete) {
    if (inbound_.size() > services_.settings.maximumReceiveMessageSize) {
      spdlog::warn("connection {}: handshake larger than {} bytes", connection_->id(),
                   services_.settings.maximumReceiveMessageSize);
      connection_->sendRaw(std::make_shared<Frame>(protocol::handshakeError("Handshake was canceled.")));
      connection_->close(std::nullopt);
      co_return false;
    }
    co_return true;
  }
  std::string error = parsed.error;
  if (parsed.status == protocol::HandshakeStatus::Ok) {
    const auto& req = parsed.request;
    if (req.protocol != services_.json.name()) {
      error = "The protocol '" + req.protocol + "' is not supported.";
    } else if (!services_.json.isVersionSupported(req.version)) {
      error = "The server does not support version " + std::to_string(req.version) + " of the '" +
              req.protocol + "' protocol.";
    }
  }
  if (!error.empty()) {
    spdlog::info("connection {}: handshake refused: {}", connection_->id(), error);
    connection_->sendRaw(std::make_shared<Frame>(protocol::handshakeError(error)));
    connection_->close(std::nullopt);
    co_return false;
  }
  inbound_.erase(0, parsed.consumed);
  handshakeDone_ = true;
  // The response must be the first frame; the protocol is set after it is queued so
  // that no hub message can overtake it.
  connection_->sendRaw(std::make_shared<Frame>(protocol::handshakeSuccess()));
  connection_->setProtocol(&services_.json);
  services_.lifetime.add(connection_);
  registered_ = true;
  if (!connection_->userId().empty()) {
    services_.lifetime.addToGroup(connection_, "user-" + connection_->userId());
  }
  spdlog::debug("connection {}: handshake ok ({} v{})", connection_->id(),
                parsed.request.protocol, parsed.request.version);
  HubCallContext context{connection_, services_.lifetime, services_.backplane};
  try {
    co_await services_.dispatcher.connected(context);
  } catch (const std::exception& e) {
    spdlog::error("connection {}: OnConnected failed: {}", connection_->id(), e.what());
    protocol::CloseMessage close;
    close.error = "Connection closed with an error.";
    connection_->close(close);
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> ConnectionHandler::onData(std::string_view bytes) {
  if (closed_) co_return false;
  inbound_.append(bytes);
  if (!handshakeDone_) {
    if (!co_await onHandshake()) co_return false;
    if (inbound_.empty()) co_return true;
  }

  std::vector<protocol::HubMessage> messages;
  auto result = services_.json.parse(inbound_, messages,
                                     services_.settings.maximumReceiveMessageSize);
  inbound_.erase(0, result.consumed);
  if (!messages.empty()) lastReceived_ = Clock::now();

  for (auto& message : messages) {
    if (auto* inv = std::get_if<protocol::InvocationMessage>(&message)) {
      HubCallContext context{connection_, services_.lifetime, services_.backplane};
      dispatching_ = true;
      co_await services_.dispatcher.invoke(context, *inv, services_.settings.enableDetailedErrors);
      dispatching_ = false;
      lastReceived_ = Clock::now();
    } else if (std::holds_alternative<protocol::PingMessage>(message)) {
      clientPinged_ = true;
    } else if (auto* close = std::get_if<protocol::CloseMessage>(&message)) {
      spdlog::debug("connection {}: client sent Close{}", connection_->id(),
                    close->error ? " with error: " + *close->error : std::string());
      connection_->close(std::nullopt);
      co_return false;
    } else if (auto* si = std::get_if<protocol::StreamInvocationMessage>(&message)) {
      // No hub method streams; answer as ASP.NET does for a non-streaming target.
      protocol::CompletionMessage completion;
      completion.invocationId = si->invocationId;
      completion.error = "The client attempted to invoke the non-streaming '" + si->target +
                         "' method with a streaming invocation.";
      connection_->send(protocol::HubMessage(completion));
    }
    // StreamItem, Completion, CancelInvocation, Ack, Sequence: nothing to act on here.
  }

  if (!result.ok()) {
    spdlog::warn("connection {}: closing, protocol error: {}", connection_->id(), result.error);
    closeWithError(result.error + (result.tooLarge
                                       ? " The message size can be configured in "
                                         "SignalR:MaximumReceiveMessageSize."
                                       : ""));
    co_return false;
  }
  co_return true;
}

bool ConnectionHandler::onTick(Clock::time_point now) {
  if (closed_ || connection_->closing()) return !closed_;
  const auto& s = services_.settings;
  if (!handshakeDone_) {
    if (now - started_ >= s.handshakeTimeout) {
      spdlog::info("connection {}: handshake timed out", connection_->id());
      connection_->sendRaw(
          std::make_shared<Frame>(protocol::handshakeError("Handshake was canceled.")));
      connection_->close(std::nullopt);
      return false;
    }
    return true;
  }
  if (clientPinged_ && !dispatching_ && now - lastReceived_ >= s.clientTimeoutInterval) {
    spdlog::info("connection {}: client timeout, nothing received for {} s", connection_->id(),
                 s.clientTimeoutInterval.count());
    closeWithError("Server timeout elapsed without receiving a message from the client.");
    return false;
  }
  if (now - connection_->lastEnqueue() >= s.keepAliveInterval) {
    connection_->send(protocol::HubMessage(protocol::PingMessage{}));
  }
  return true;
}

void ConnectionHandler::onClosed() {
  if (closed_) return;
  closed_ = true;
  if (registered_) services_.lifetime.remove(connection_);
  connection_->close(std::nullopt);
}

}  // namespace herald::hub
