#include "transport/connection_setup.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

namespace herald::transport {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// One ticker per I/O thread drives the once-a-second duties (keep-alive pings, client
// and handshake timeouts, stateful Acks) of every connection homed on that thread:
// thousands of idle connections cost one timer, not thousands.
struct ThreadTicker {
  std::vector<std::weak_ptr<HttpConnection>> connections;
  ConnectionManager* manager = nullptr;
  bool running = false;
};

// A connection that is ending gets this long to flush its Close and finish the closing
// handshake (ASP.NET's CloseTimeout); a client that stopped reading cannot hold its
// socket and buffers for longer than that.
constexpr auto kCloseTimeout = std::chrono::seconds(5);
thread_local ThreadTicker ticker;

asio::awaitable<void> tickAll() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(1s);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto now = std::chrono::steady_clock::now();
    auto& list = ticker.connections;
    spdlog::trace("tick: {} connections on this thread", list.size());
    std::size_t kept = 0;
    for (std::size_t i = 0; i < list.size(); ++i) {
      auto c = list[i].lock();
      if (!c || c->disposed) continue;  // dropped from the list
      c->handler->onTick(now);
      if (c->hub->closing() && now - c->hub->closingSince() > kCloseTimeout) {
        spdlog::info("connection {}: not closed {} s after it ended; aborting the socket",
                     c->connectionId, kCloseTimeout.count());
        c->detachCurrent();
        if (ticker.manager) ticker.manager->dispose(c);
        continue;
      }
      if (kept != i) list[kept] = std::move(list[i]);  // never self-move: it empties a weak_ptr
      ++kept;
    }
    list.resize(kept);
  }
}

}  // namespace

void setUpConnection(const HttpConnectionPtr& c, const hub::HubServices& services,
                     hub::TransportFeatures features, ConnectionManager& manager) {
  c->hub = std::make_shared<hub::HubConnection>(c->connectionId, c->userId,
                                                services.settings.maxOutboundQueueBytes);
  features.statefulReconnect = c->statefulReconnect && features.statefulReconnect;
  c->handler = std::make_unique<hub::ConnectionHandler>(c->hub, services, features);
  // Called on the home executor (the first transport request's), whose thread owns
  // this ticker.
  ticker.connections.push_back(c);
  ticker.manager = &manager;
  if (!ticker.running) {
    ticker.running = true;
    asio::co_spawn(c->home, tickAll(), asio::detached);
  }
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
