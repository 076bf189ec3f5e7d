#include "transport/adoption.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "transport/connection_setup.h"

namespace herald::transport {

namespace asio = boost::asio;

namespace {

using Adopted = std::optional<hub::SessionMirror::Adopted>;

// The mirror's callback (on its thread) as an awaitable that resumes on the caller's
// executor.
template <class Token>
auto asyncAdopt(hub::SessionMirror& mirror, const std::string& token, Token&& completion) {
  return asio::async_initiate<Token, void(Adopted)>(
      [&mirror](auto handler, const std::string& token) {
        using Handler = decltype(handler);
        auto shared = std::make_shared<Handler>(std::move(handler));
        mirror.adopt(token, [shared](Adopted adopted) {
          auto executor = asio::get_associated_executor(*shared);
          asio::post(executor, [shared, adopted = std::move(adopted)]() mutable {
            (*shared)(std::move(adopted));
          });
        });
      },
      completion, token);
}

template <class Token>
auto asyncCheck(hub::HubConnection& hub, Token&& completion) {
  return asio::async_initiate<Token, void(hub::MirrorWrite)>(
      [&hub](auto handler) {
        using Handler = decltype(handler);
        auto shared = std::make_shared<Handler>(std::move(handler));
        auto resume = [shared](hub::MirrorWrite result) {
          auto executor = asio::get_associated_executor(*shared);
          asio::post(executor, [shared, result]() { (*shared)(result); });
        };
        if (!hub.checkMirror(resume)) resume(hub::MirrorWrite::Stored);
      },
      completion);
}

}  // namespace

asio::awaitable<bool> stillOwned(const HttpConnectionPtr& connection) {
  if (!connection->hub) co_return true;
  auto checking = asyncCheck(*connection->hub, asio::use_awaitable);
  co_return co_await std::move(checking) != hub::MirrorWrite::Fenced;
}

asio::awaitable<Attach> adoptConnection(const std::string& token, const auth::Principal& principal,
                                        bool sameUserOnly, asio::any_io_executor executor,
                                        ConnectionManager& connections,
                                        const hub::HubServices& services) {
  Attach attach;
  if (!services.mirror) co_return attach;
  auto taking = asyncAdopt(*services.mirror, token, asio::use_awaitable);
  auto adopted = co_await std::move(taking);
  if (!adopted) co_return attach;
  auto& state = adopted->state;
  if (sameUserOnly && state.principal.userId != principal.userId) {
    // The token is a secret, so this is a stolen one: refused like an unknown token. The
    // session stays in the mirror for its own client (its epoch moved on, nothing else).
    spdlog::warn("connection {}: adoption refused, the token belongs to another user",
                 state.connectionId);
    co_return attach;
  }
  auto c = connections.adopt(token, state.connectionId, state.principal, executor);
  if (!c) co_return attach;
  setUpConnection(c, services, hub::TransportFeatures{true, false, true}, connections,
                  "websockets");
  c->hub->restore(state);
  // Mirrored from the start again: what the rejoin and catch-up queue is numbered under
  // the new epoch.
  c->hub->attachMirror(services.mirror, adopted->session);
  auto adopting = c->handler->adopt(state);
  if (!co_await std::move(adopting)) {
    spdlog::warn("connection {}: adoption failed (protocol '{}')", state.connectionId,
                 state.protocol);
    connections.dispose(c);
    co_return Attach{};
  }
  spdlog::info("connection {}: adopted ({} unacknowledged frames, {} groups)", state.connectionId,
               state.frames.size(), state.groups.size());
  attach.result = AttachResult::Ok;
  attach.connection = std::move(c);
  attach.reattach = true;
  co_return attach;
}

}  // namespace herald::transport
