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
// The Asio timer only paces the ticks (real waiting); the time each tick passes to the
// handlers comes from HubServices::clock, which takes every decision.
struct ThreadTicker {
  std::vector<std::weak_ptr<HttpConnection>> connections;
  ConnectionManager* manager = nullptr;
  const core::Clock* clock = nullptr;
  bool running = false;
};

thread_local ThreadTicker ticker;

// Each connection is visited once a second, but in ten slices 100 ms apart: pings due
// at the same moment (connections that arrived together) then leave in ten small bursts
// rather than one that stalls the thread. Deadlines are absolute so slices do not drift.
constexpr int kSlices = 10;

asio::awaitable<void> tickAll() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto next = std::chrono::steady_clock::now();
  for (int slice = 0;; slice = (slice + 1) % kSlices) {
    next += std::chrono::milliseconds(1000 / kSlices);
    timer.expires_at(next);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto now = ticker.clock->steadyNow();  // one clock read per slice
    auto& list = ticker.connections;
    const std::size_t from = list.size() * static_cast<std::size_t>(slice) / kSlices;
    const std::size_t to = list.size() * static_cast<std::size_t>(slice + 1) / kSlices;
    for (std::size_t i = from; i < to; ++i) {
      auto c = list[i].lock();
      if (!c || c->disposed) {
        list[i].reset();  // removed when the cycle ends
        continue;
      }
      if (c->handler->onTick(now) == hub::TickResult::Abort) {
        spdlog::info("connection {}: not closed {} s after it ended; aborting the socket",
                     c->connectionId, hub::ConnectionHandler::kCloseTimeout.count());
        c->detachCurrent();
        if (ticker.manager) ticker.manager->dispose(c);
        list[i].reset();
      }
    }
    if (slice == kSlices - 1) {
      // Compact once a cycle; entries keep their order, so every slice keeps its share.
      std::erase_if(list, [](const std::weak_ptr<HttpConnection>& w) { return w.expired(); });
    }
  }
}

}  // namespace

void setUpConnection(const HttpConnectionPtr& c, const hub::HubServices& services,
                     hub::TransportFeatures features, ConnectionManager& manager,
                     const char* transport) {
  c->hub = std::make_shared<hub::HubConnection>(c->connectionId, c->principal,
                                                services.settings.maxOutboundQueueBytes);
  c->hub->setTransport(transport);
  // Only a mirrored stateful connection needs its token: it keys the mirror's record.
  if (services.mirror && c->statefulReconnect) c->hub->setToken(c->token);
  features.statefulReconnect = c->statefulReconnect && features.statefulReconnect;
  c->handler = std::make_unique<hub::ConnectionHandler>(c->hub, services, features);
  // Called on the home executor (the first transport request's), whose thread owns
  // this ticker.
  ticker.connections.push_back(c);
  ticker.manager = &manager;
  ticker.clock = &services.clock;  // the same for every connection of a server
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
