#include "hub/connection_handler.h"

#include <spdlog/spdlog.h>

#include "metrics/herald_metrics.h"
#include "protocol/signalr/handshake.h"

namespace herald::hub {

namespace asio = boost::asio;

ConnectionHandler::ConnectionHandler(HubConnectionPtr connection, HubServices services,
                                     TransportFeatures features)
    : connection_(std::move(connection)), services_(std::move(services)), features_(features) {
  started_ = lastReceived_ = lastSent_ = services_.clock.steadyNow();
  if (const auto* l = services_.limits; l && l->invocationsPerConnectionPerSecond > 0) {
    invocations_.emplace(l->invocationsPerConnectionPerSecond, l->invocationBurstPerConnection,
                         started_);
  }
}

bool ConnectionHandler::admitInvocation(const std::optional<std::string>& invocationId,
                                        const std::string& target) {
  if (!invocations_) return true;
  const auto now = services_.clock.steadyNow();
  if (invocations_->tryTake(now)) return true;
  metrics::rejected("limit_invocations");
  if (lastRefused_ == TimePoint{} || now - lastRefused_ >= std::chrono::seconds(1)) {
    overLimitSince_ = now;  // a new run of refusals
  }
  lastRefused_ = now;
  const auto closeAfter = std::chrono::seconds(services_.limits->invocationAbuseCloseSeconds);
  if (closeAfter.count() > 0 && now - overLimitSince_ >= closeAfter) {
    // Sustained: the client ignores its refusals. Not invited to reconnect at once.
    metrics::rejected("limit_invocations_abuse_closed");
    spdlog::warn("connection {}: closed, over the invocation rate limit for {} s",
                 connection_->id(), closeAfter.count());
    protocol::CloseMessage close;
    close.error =
        "Connection closed with an error. Rate limit exceeded: invocations stayed above "
        "Limits:InvocationsPerConnectionPerSecond for " +
        std::to_string(closeAfter.count()) + " s.";
    close.allowReconnect = false;
    connection_->close(close);
    return false;
  }
  if (invocationId) {
    protocol::CompletionMessage completion;
    completion.invocationId = *invocationId;
    completion.error = "Failed to invoke '" + target +
                       "': rate limit exceeded (Limits:InvocationsPerConnectionPerSecond).";
    connection_->send(protocol::HubMessage(completion));
  }
  return false;
}

void ConnectionHandler::noteSent(TimePoint now) {
  const auto count = connection_->enqueuedCount();
  if (count == sentCount_) return;
  sentCount_ = count;
  lastSent_ = now;
}

bool ConnectionHandler::acceptTrackable() {
  if (!connection_->statefulReconnect()) return true;
  auto id = nextExpected_++;
  if (id <= latestReceived_) return false;  // a replayed duplicate
  latestReceived_ = id;
  return true;
}

void ConnectionHandler::onReattached() {
  inbound_.clear();
  lastReceived_ = services_.clock.steadyNow();
}

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
  // The handshake record is a message like any other: bounded by MaximumReceiveMessageSize
  // whether it arrives in pieces or whole (a long-polling or SSE POST carries it in one
  // body, up to the HTTP body limit, and was parsed however large).
  const auto end = inbound_.find('\x1e');
  const bool tooLarge = (end == std::string::npos ? inbound_.size() : end) >
                        services_.settings.maximumReceiveMessageSize;
  auto parsed = tooLarge ? protocol::HandshakeParse{} : protocol::parseHandshakeRequest(inbound_);
  if (tooLarge || parsed.status == protocol::HandshakeStatus::Incomplete) {
    if (tooLarge) {
      spdlog::warn("connection {}: handshake larger than {} bytes", connection_->id(),
                   services_.settings.maximumReceiveMessageSize);
      connection_->sendRaw(
          std::make_shared<Frame>(protocol::handshakeError("Handshake was canceled.")));
      connection_->close(std::nullopt);
      co_return false;
    }
    co_return true;
  }
  std::string error = parsed.error;
  const protocol::HubProtocol* chosen = nullptr;
  if (parsed.status == protocol::HandshakeStatus::Ok) {
    const auto& req = parsed.request;
    if (req.protocol == services_.json.name()) chosen = &services_.json;
    if (req.protocol == services_.messagePack.name()) chosen = &services_.messagePack;
    if (!chosen) {
      error = "The protocol '" + req.protocol + "' is not supported.";
    } else if (!chosen->isVersionSupported(req.version)) {
      error = "The server does not support version " + std::to_string(req.version) + " of the '" +
              req.protocol + "' protocol.";
    } else if (chosen->transferFormat() == protocol::TransferFormat::Binary && !features_.binary) {
      error = "Cannot use the '" + req.protocol +
              "' protocol on the current transport. The transport does not support 'Binary' "
              "transfer format.";
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
  // As ASP.NET does: stateful reconnect only when negotiated and asked for with v2.
  if (features_.statefulReconnect && parsed.request.version >= 2) {
    connection_->enableStatefulReconnect();
  }
  // The protocol is set first so the writer frames the response as the protocol's
  // transfer format (Binary for MessagePack). Nothing else can be queued before the
  // response: the connection is in no registry yet.
  connection_->setProtocol(chosen);
  if (services_.mirror && connection_->statefulReconnect() && !connection_->token().empty()) {
    // Mirrored from before the first frame: the record exists before any group or frame.
    SessionState initial;
    initial.connectionId = connection_->id();
    initial.protocol = chosen->name();
    initial.principal = connection_->principal();
    connection_->attachMirror(services_.mirror,
                              services_.mirror->open(connection_->token(), initial));
  }
  connection_->sendRaw(std::make_shared<Frame>(protocol::handshakeSuccess()));
  services_.lifetime.add(connection_);
  registered_ = true;
  // What a new connection joins (its user's group, ...) is the app's OnConnected hook.
  spdlog::debug("connection {}: handshake ok ({} v{})", connection_->id(), parsed.request.protocol,
                parsed.request.version);
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
  noteSent(services_.clock.steadyNow());  // the handshake response, whatever OnConnected sent
  co_return true;
}

asio::awaitable<bool> ConnectionHandler::onData(std::string_view bytes) {
  if (closed_) co_return false;
  inbound_.append(bytes);
  if (!handshakeDone_) {
    if (!co_await onHandshake()) co_return false;
    if (!handshakeDone_ || inbound_.empty()) co_return true;  // wait for more bytes
  }

  std::vector<protocol::HubMessage> messages;
  auto result = connection_->protocol()->parse(inbound_, messages,
                                               services_.settings.maximumReceiveMessageSize);
  inbound_.erase(0, result.consumed);
  // Keep idle connections small: a burst's buffer is not held for the connection's life.
  if (inbound_.empty() && inbound_.capacity() > 1024) std::string().swap(inbound_);
  TimePoint now{};
  if (!messages.empty()) lastReceived_ = now = services_.clock.steadyNow();

  for (auto& message : messages) {
    if (protocol::isTrackable(message) && !acceptTrackable()) continue;
    if (auto* inv = std::get_if<protocol::InvocationMessage>(&message)) {
      if (!admitInvocation(inv->invocationId, inv->target)) {
        if (connection_->closing()) co_return false;
        continue;
      }
      HubCallContext context{connection_, services_.lifetime, services_.backplane};
      dispatching_ = true;
      co_await services_.dispatcher.invoke(context, *inv, services_.settings.enableDetailedErrors);
      dispatching_ = false;
      lastReceived_ = now = services_.clock.steadyNow();
    } else if (std::holds_alternative<protocol::PingMessage>(message)) {
      clientPinged_ = true;
    } else if (auto* close = std::get_if<protocol::CloseMessage>(&message)) {
      spdlog::debug("connection {}: client sent Close{}", connection_->id(),
                    close->error ? " with error: " + *close->error : std::string());
      connection_->close(std::nullopt);
      co_return false;
    } else if (auto* si = std::get_if<protocol::StreamInvocationMessage>(&message)) {
      if (!admitInvocation(si->invocationId, si->target)) {
        if (connection_->closing()) co_return false;
        continue;
      }
      // No hub method streams; answer as ASP.NET does for a non-streaming target.
      protocol::CompletionMessage completion;
      completion.invocationId = si->invocationId;
      completion.error = "The client attempted to invoke the non-streaming '" + si->target +
                         "' method with a streaming invocation.";
      connection_->send(protocol::HubMessage(completion));
    } else if (auto* ack = std::get_if<protocol::AckMessage>(&message)) {
      connection_->acknowledge(ack->sequenceId);
    } else if (auto* seq = std::get_if<protocol::SequenceMessage>(&message)) {
      if (connection_->statefulReconnect()) {
        if (awaitingAdoptedSequence_) {
          // Adopted: the old node may have received (and run) some of the messages the
          // client replays now; what it received was not mirrored, so they run here
          // (at least once; the hub's methods are idempotent subscriptions).
          awaitingAdoptedSequence_ = false;
          nextExpected_ = seq->sequenceId;
          latestReceived_ = lastAcked_ = seq->sequenceId - 1;
          continue;
        }
        if (seq->sequenceId > nextExpected_) {
          spdlog::warn("connection {}: Sequence {} beyond the {} expected: messages were lost",
                       connection_->id(), seq->sequenceId, nextExpected_);
          closeWithError("Sequence ID greater than amount of messages we've received.");
          co_return false;
        }
        nextExpected_ = seq->sequenceId;
      }
    }
    // StreamItem, Completion, CancelInvocation: nothing to act on (no streams, no
    // client results).
  }

  if (!result.ok()) {
    spdlog::warn("connection {}: closing, protocol error: {}", connection_->id(), result.error);
    closeWithError(result.error + (result.tooLarge ? " The message size can be configured in "
                                                     "SignalR:MaximumReceiveMessageSize."
                                                   : ""));
    co_return false;
  }
  if (!messages.empty()) noteSent(now);  // completions count as traffic for the keep-alive
  co_return true;
}

TickResult ConnectionHandler::onTick(TimePoint now) {
  if (closed_) return TickResult::Ending;
  if (connection_->closing()) {
    if (!closingSince_) closingSince_ = now;
    return now - *closingSince_ > kCloseTimeout ? TickResult::Abort : TickResult::Ending;
  }
  const auto& s = services_.settings;
  if (!handshakeDone_) {
    if (now - started_ >= s.handshakeTimeout) {
      spdlog::info("connection {}: handshake timed out", connection_->id());
      connection_->sendRaw(
          std::make_shared<Frame>(protocol::handshakeError("Handshake was canceled.")));
      connection_->close(std::nullopt);
      closingSince_ = now;
      return TickResult::Ending;
    }
    return TickResult::Open;
  }
  // The credential the connection was opened with has expired: closed with an error and
  // allowReconnect, as ASP.NET Core's CloseOnAuthenticationExpiration does, so the client
  // reconnects with a fresh token from its accessTokenFactory. Checked once a tick, so a
  // connection lives at most a second past its token.
  if (const auto expiresAt = connection_->principal().expiresAt;
      expiresAt > 0 && services_.clock.systemNowMillis() >= expiresAt * 1000) {
    spdlog::info("connection {}: access token expired", connection_->id());
    protocol::CloseMessage close;
    close.error = "Connection closed with an error. Unauthorized: the access token expired.";
    close.allowReconnect = true;
    connection_->close(close);
    closingSince_ = now;
    return TickResult::Ending;
  }
  if (connection_->statefulReconnect() && latestReceived_ > lastAcked_) {
    // Once a second at most (the tick), as the .NET server and JS client do.
    lastAcked_ = latestReceived_;
    connection_->send(protocol::HubMessage(protocol::AckMessage{lastAcked_}));
  }
  if (features_.inherentKeepAlive) return TickResult::Open;  // long polling: polls are liveness
  if (clientPinged_ && !dispatching_ && now - lastReceived_ >= s.clientTimeoutInterval) {
    spdlog::info("connection {}: client timeout, nothing received for {} s", connection_->id(),
                 s.clientTimeoutInterval.count());
    closeWithError("Server timeout elapsed without receiving a message from the client.");
    closingSince_ = now;
    return TickResult::Ending;
  }
  noteSent(now);  // anything queued since the last tick (broadcasts, the Ack above)
  if (now - lastSent_ >= s.keepAliveInterval) {
    connection_->send(protocol::HubMessage(protocol::PingMessage{}));
    noteSent(now);
  }
  return TickResult::Open;
}

void ConnectionHandler::onClosed() {
  if (closed_) return;
  closed_ = true;
  if (registered_) services_.lifetime.remove(connection_);
  connection_->close(std::nullopt);
  connection_->detachMirror();
}

asio::awaitable<bool> ConnectionHandler::adopt(const SessionState& state) {
  const protocol::HubProtocol* chosen = nullptr;
  if (state.protocol == services_.json.name()) chosen = &services_.json;
  if (state.protocol == services_.messagePack.name()) chosen = &services_.messagePack;
  if (!chosen) co_return false;
  connection_->setProtocol(chosen);
  handshakeDone_ = true;
  awaitingAdoptedSequence_ = true;
  clientPinged_ = true;  // it pinged the old node; its timeout runs here from now
  services_.lifetime.add(connection_);
  registered_ = true;
  HubCallContext context{connection_, services_.lifetime, services_.backplane};
  try {
    co_await services_.dispatcher.adopted(context, state);
  } catch (const std::exception& e) {
    spdlog::error("connection {}: rejoining its groups after adoption failed: {}",
                  connection_->id(), e.what());
    co_return false;
  }
  lastReceived_ = lastSent_ = services_.clock.steadyNow();
  noteSent(lastSent_);
  co_return true;
}

}  // namespace herald::hub
