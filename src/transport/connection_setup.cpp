#include "transport/connection_setup.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

namespace herald::transport {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

asio::awaitable<void> tickLoop(HttpConnectionPtr c) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!c->disposed) {
    timer.expires_after(1s);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (c->disposed) break;
    c->handler->onTick(std::chrono::steady_clock::now());
  }
}

}  // namespace

void setUpConnection(const HttpConnectionPtr& c, const hub::HubServices& services,
                     hub::TransportFeatures features, ConnectionManager&) {
  c->hub = std::make_shared<hub::HubConnection>(c->connectionId, c->userId,
                                                services.settings.maxOutboundQueueBytes);
  features.statefulReconnect = c->statefulReconnect && features.statefulReconnect;
  c->handler = std::make_unique<hub::ConnectionHandler>(c->hub, services, features);
  asio::co_spawn(c->home, tickLoop(c), asio::detached);
}

asio::awaitable<bool> deliverInbound(const HttpConnectionPtr& c, std::string bytes) {
  if (c->disposed) co_return false;
  // Usually the socket lives on the connection's home executor: no hop needed.
  if (c->home == co_await asio::this_coro::executor) {
    co_return co_await c->handler->onData(bytes);
  }
  auto hop = c->runOnHome([c, bytes = std::move(bytes)]() -> asio::awaitable<bool> {
    if (c->disposed) co_return false;
    co_return co_await c->handler->onData(bytes);
  });
  co_return co_await std::move(hop);
}

}  // namespace herald::transport
