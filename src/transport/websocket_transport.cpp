#include "transport/websocket_transport.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include "transport/connection_setup.h"

namespace herald::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace std::chrono_literals;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// Bytes asked of the socket per read: the parser's limit, not this, bounds a message.
constexpr std::size_t kReadChunk = 16 * 1024;

// One socket of a connection; shared by its read loop and its writer.
struct Socket {
  Socket(beast::tcp_stream&& stream, HttpConnectionPtr c, std::uint64_t generation)
      : ws(std::move(stream)),
        wake(ws.get_executor(), std::chrono::steady_clock::time_point::max()),
        connection(std::move(c)),
        generation(generation) {}

  bool current() const { return connection->generation == generation && !detached; }

  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer wake;
  HttpConnectionPtr connection;
  const std::uint64_t generation;
  bool detached = false;  // a newer socket took over
  bool writerDone = false;
};

asio::awaitable<void> writeLoop(std::shared_ptr<Socket> s) {
  auto& hub = s->connection->hub;
  std::vector<asio::const_buffer> buffers;
  for (;;) {
    if (!s->current()) co_return;  // superseded: the new socket owns the queue
    auto frames = hub->takeQueued();
    if (frames.empty()) {
      if (hub->closing()) break;
      co_await s->wake.async_wait(use_nothrow);
      continue;
    }
    buffers.clear();
    for (const auto& f : frames) buffers.emplace_back(f->data(), f->size());
    s->ws.binary(hub->binary());
    auto [ec, n] = co_await s->ws.async_write(buffers, use_nothrow);
    if (ec) {
      spdlog::debug("connection {}: write failed: {}", hub->id(), ec.message());
      s->writerDone = true;
      co_return;
    }
  }
  if (hub->overflowed()) {
    spdlog::warn("connection {}: outbound queue over its limit (slow consumer), closing",
                 hub->id());
    if (auto* p = hub->protocol()) {
      std::string frame;
      p->write(protocol::CloseMessage{"Connection closed with an error.", true}, frame);
      s->ws.binary(hub->binary());
      co_await s->ws.async_write(asio::buffer(frame), use_nothrow);
    }
  }
  s->writerDone = true;
  if (s->ws.is_open()) co_await s->ws.async_close(websocket::close_code::normal, use_nothrow);
}

}  // namespace

asio::awaitable<void> runWebSocket(beast::tcp_stream stream,
                                   beast::http::request<beast::http::string_body> request,
                                   Attach attach, hub::HubServices services,
                                   ConnectionManager& manager) {
  auto c = attach.connection;
  if (attach.reattach) c->detachCurrent();  // the old socket, if it still lingers
  auto s = std::make_shared<Socket>(std::move(stream), c, ++c->generation);
  beast::get_lowest_layer(s->ws).expires_never();
  // Beast's own keep-alive pings stay off: SignalR pings at the hub level.
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = 5s;  // also bounds the closing handshake (ASP.NET: 5 s)
  timeouts.idle_timeout = websocket::stream_base::none();
  timeouts.keep_alive_pings = false;
  s->ws.set_option(timeouts);
  s->ws.set_option(websocket::stream_base::decorator([](websocket::response_type& res) {
    res.set(beast::http::field::server, "Herald");
  }));
  s->ws.auto_fragment(false);

  auto [acceptEc] = co_await s->ws.async_accept(request, use_nothrow);
  if (acceptEc) {
    spdlog::debug("connection {}: websocket accept failed: {}", c->connectionId,
                  acceptEc.message());
    if (attach.first) manager.dispose(c);
    else manager.setActive(c, false);
    co_return;
  }
  auto executor = s->ws.get_executor();
  if (attach.first) {
    setUpConnection(c, services, hub::TransportFeatures{true, false, true}, manager);
  }
  spdlog::debug("connection {}: websocket open{}", c->connectionId,
                attach.reattach ? " (stateful reattach)" : "");

  std::weak_ptr<Socket> weak = s;
  c->setDetach([executor, weak] {
    asio::post(executor, [weak] {
      if (auto s = weak.lock()) {
        s->detached = true;
        s->wake.cancel();
        boost::system::error_code ec;
        beast::get_lowest_layer(s->ws).socket().close(ec);
      }
    });
  });
  c->hub->setWakeup([executor, weak] {
    asio::post(executor, [weak] {
      if (auto s = weak.lock()) s->wake.cancel();
    });
  });
  if (attach.reattach) {
    auto reattaching = c->runOnHome([c]() -> asio::awaitable<void> {
      c->handler->onReattached();
      co_return;
    });
    co_await std::move(reattaching);
    c->hub->prepareReplay();  // Sequence first, then every unacknowledged message
  }
  asio::co_spawn(executor, writeLoop(s), asio::detached);

  beast::flat_buffer buffer;
  bool accepting = true;  // false once the handler ended the connection: drain only
  for (;;) {
    auto [ec, n] = co_await s->ws.async_read_some(buffer, kReadChunk, use_nothrow);
    if (ec) {
      if (ec != websocket::error::closed && ec != asio::error::operation_aborted &&
          ec != asio::error::eof) {
        spdlog::debug("connection {}: read ended: {}", c->connectionId, ec.message());
      }
      break;
    }
    if (accepting && s->current()) {
      auto data = buffer.cdata();
      // Reading pauses while an invocation runs (one at a time per connection).
      auto delivering =
          deliverInbound(c, std::string(static_cast<const char*>(data.data()), data.size()));
      accepting = co_await std::move(delivering);
    }
    // Once the connection is ending, keep reading (and discarding) until the writer's
    // close handshake completes, so the client's close frame is consumed.
    buffer.consume(buffer.size());
  }
  const bool current = s->current();
  s->detached = true;  // this socket is finished either way: stop its writer
  s->wake.cancel();
  if (!current) co_return;  // a newer socket carries the connection now
  if (c->hub->closing() || !c->hub->statefulReconnect()) {
    manager.dispose(c);
  } else {
    // Stateful: keep groups and buffers; the client reattaches within DisconnectTimeout
    // or the reaper disposes the connection.
    manager.setActive(c, false);
    spdlog::debug("connection {}: socket lost, waiting for a stateful reattach",
                  c->connectionId);
  }
}

}  // namespace herald::transport
