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

namespace herald::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using namespace std::chrono_literals;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// Bytes asked of the socket per read: the parser's limit, not this, bounds a message.
constexpr std::size_t kReadChunk = 16 * 1024;

// Shared by the read loop, the writer and the ticker; lives as long as any of them.
struct Session {
  Session(beast::tcp_stream&& stream, hub::HubConnectionPtr hubConnection, hub::HubServices services)
      : ws(std::move(stream)),
        wake(ws.get_executor(), std::chrono::steady_clock::time_point::max()),
        tick(ws.get_executor()),
        handler(std::move(hubConnection), services, /*binaryTransport=*/true) {}

  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer wake;
  asio::steady_timer tick;
  hub::ConnectionHandler handler;
  bool writerDone = false;
};

asio::awaitable<void> writeLoop(std::shared_ptr<Session> s) {
  auto& conn = s->handler.connection();
  std::vector<asio::const_buffer> buffers;
  for (;;) {
    auto frames = conn->takeQueued();
    if (frames.empty()) {
      if (conn->closing()) break;
      co_await s->wake.async_wait(use_nothrow);
      continue;
    }
    buffers.clear();
    for (const auto& f : frames) buffers.emplace_back(f->data(), f->size());
    s->ws.text(true);
    auto [ec, n] = co_await s->ws.async_write(buffers, use_nothrow);
    if (ec) {
      spdlog::debug("connection {}: write failed: {}", conn->id(), ec.message());
      s->writerDone = true;
      s->tick.cancel();
      co_return;
    }
  }
  if (conn->overflowed()) {
    spdlog::warn("connection {}: outbound queue over its limit (slow consumer), closing",
                 conn->id());
    if (auto* p = conn->protocol()) {
      protocol::CloseMessage close{"Connection closed with an error.", true};
      std::string frame;
      p->write(close, frame);
      co_await s->ws.async_write(asio::buffer(frame), use_nothrow);
    }
  }
  s->writerDone = true;
  s->tick.cancel();
  if (s->ws.is_open()) {
    co_await s->ws.async_close(websocket::close_code::normal, use_nothrow);
  }
}

asio::awaitable<void> tickLoop(std::shared_ptr<Session> s) {
  while (!s->writerDone) {
    s->tick.expires_after(1s);
    auto [ec] = co_await s->tick.async_wait(use_nothrow);
    if (ec || s->writerDone) co_return;
    if (!s->handler.onTick(std::chrono::steady_clock::now())) {
      // The handler queued a Close (or handshake error); the writer flushes and closes.
    }
  }
}

}  // namespace

asio::awaitable<void> runWebSocket(beast::tcp_stream stream,
                                   beast::http::request<beast::http::string_body> request,
                                   TransportConnectionPtr connection, hub::HubServices services,
                                   ConnectionManager& manager) {
  auto hubConnection = std::make_shared<hub::HubConnection>(
      connection->connectionId, connection->userId, services.settings.maxOutboundQueueBytes);
  connection->hub = hubConnection;
  auto s = std::make_shared<Session>(std::move(stream), hubConnection, services);
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
    spdlog::debug("connection {}: websocket accept failed: {}", connection->connectionId,
                  acceptEc.message());
    manager.remove(connection->token);
    co_return;
  }
  spdlog::debug("connection {}: websocket open", connection->connectionId);

  auto executor = s->ws.get_executor();
  std::weak_ptr<Session> weak = s;
  hubConnection->setWakeup([executor, weak] {
    asio::post(executor, [weak] {
      if (auto s = weak.lock()) s->wake.cancel();
    });
  });
  asio::co_spawn(executor, writeLoop(s), asio::detached);
  asio::co_spawn(executor, tickLoop(s), asio::detached);

  beast::flat_buffer buffer;
  bool accepting = true;  // false once the handler ended the connection: drain only
  for (;;) {
    auto [ec, n] = co_await s->ws.async_read_some(buffer, kReadChunk, use_nothrow);
    if (ec) {
      if (ec != websocket::error::closed && ec != asio::error::operation_aborted &&
          ec != asio::error::eof) {
        spdlog::debug("connection {}: read ended: {}", connection->connectionId, ec.message());
      }
      break;
    }
    if (accepting) {
      auto data = buffer.cdata();
      std::string_view bytes(static_cast<const char*>(data.data()), data.size());
      // Reading pauses while an invocation runs (one at a time per connection).
      accepting = co_await s->handler.onData(bytes);
    }
    // Once the connection is ending, keep reading (and discarding) until the writer's
    // close handshake completes, so the client's close frame is consumed.
    buffer.consume(buffer.size());
  }
  s->handler.onClosed();
  manager.remove(connection->token);
  hubConnection->setWakeup({});
  s->wake.cancel();
  spdlog::debug("connection {}: websocket closed", connection->connectionId);
}

}  // namespace herald::transport
