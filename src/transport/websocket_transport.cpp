#include "transport/websocket_transport.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <array>
#include <mutex>

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
// Bytes taken per read: the parser's limit, not this, bounds a message. Small on purpose:
// the buffer exists while a connection waits idle, and idle connections are what a
// progress server has most of; client messages are small.
constexpr std::size_t kReadChunk = 512;

// One socket of a connection; shared by its read loop and its writer.
struct Socket {
  Socket(asio::ip::tcp::socket&& socket, HttpConnectionPtr c, std::uint64_t generation)
      : ws(std::move(socket)), connection(std::move(c)), generation(generation) {}

  bool current() const { return connection->generation == generation && !detached; }

  // On a plain socket, not beast::tcp_stream: the WebSocket has its own timeouts, and
  // tcp_stream's timer state would cost every idle connection half a kilobyte.
  websocket::stream<asio::ip::tcp::socket> ws;
  std::array<char, kReadChunk> readBuffer;
  HttpConnectionPtr connection;
  const std::uint64_t generation;
  bool detached = false;  // a newer socket took over, or this one is finished
  bool writing = false;
  bool writerDone = false;
  std::vector<hub::FramePtr> inFlight;  // kept alive until their write completes
  std::string batch;                     // several frames joined for one write
  std::string closeFrame;
};

void finishWriting(const std::shared_ptr<Socket>& s);

// The single writer of a socket, as a callback chain rather than a coroutine: an idle
// connection then holds no writer frame at all. Runs on the socket's executor; called
// when frames are queued (via the hub connection's wakeup) and after each write.
void pump(const std::shared_ptr<Socket>& s) {
  if (s->writing || s->writerDone || !s->current()) return;
  auto& hub = s->connection->hub;
  s->inFlight = hub->takeQueued();
  if (s->inFlight.empty()) {
    if (hub->closing()) finishWriting(s);
    return;
  }
  // Everything queued goes out as one WebSocket message: one write for a burst. One
  // contiguous buffer, not a sequence: Beast copies a buffer sequence (allocating) at
  // every step of its write, and a copy of a few frames costs less.
  asio::const_buffer payload;
  if (s->inFlight.size() == 1) {
    payload = asio::buffer(*s->inFlight.front());
  } else {
    s->batch.clear();
    for (const auto& f : s->inFlight) s->batch += *f;
    payload = asio::buffer(s->batch);
  }
  s->ws.binary(hub->binary());
  s->writing = true;
  s->ws.async_write(payload, [s](boost::system::error_code ec, std::size_t) {
    s->writing = false;
    s->inFlight.clear();
    // A burst's buffer is not kept for the connection's idle life.
    if (s->batch.capacity() > 64 * 1024) std::string().swap(s->batch);
    if (ec) {
      spdlog::debug("connection {}: write failed: {}", s->connection->connectionId, ec.message());
      s->writerDone = true;
      return;
    }
    pump(s);
  });
}

// Sockets of one I/O thread that have frames to write. A broadcast to thousands of
// connections then costs one task posted to each I/O thread, not one per connection
// (each post takes the scheduler's lock and may wake its epoll).
class ReadyQueue {
 public:
  explicit ReadyQueue(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  // Any thread.
  void push(std::weak_ptr<Socket> socket, const std::shared_ptr<ReadyQueue>& self) {
    bool schedule = false;
    {
      std::lock_guard lock(mutex_);
      ready_.push_back(std::move(socket));
      schedule = !scheduled_;
      scheduled_ = true;
    }
    if (schedule) asio::post(executor_, [self] { self->drain(); });
  }

 private:
  // The owning I/O thread.
  void drain() {
    {
      std::lock_guard lock(mutex_);
      draining_.swap(ready_);
      scheduled_ = false;
    }
    for (auto& weak : draining_) {
      if (auto s = weak.lock()) pump(s);
    }
    draining_.clear();
  }

  asio::any_io_executor executor_;
  std::mutex mutex_;
  std::vector<std::weak_ptr<Socket>> ready_;
  std::vector<std::weak_ptr<Socket>> draining_;
  bool scheduled_ = false;
};

// One per I/O thread, made by the first WebSocket that thread serves.
std::shared_ptr<ReadyQueue>& threadReadyQueue(const asio::any_io_executor& executor) {
  thread_local std::shared_ptr<ReadyQueue> queue;
  if (!queue) queue = std::make_shared<ReadyQueue>(executor);
  return queue;
}

void finishWriting(const std::shared_ptr<Socket>& s) {
  s->writerDone = true;
  auto& hub = s->connection->hub;
  auto close = [s] {
    if (s->ws.is_open()) {
      s->ws.async_close(websocket::close_code::normal, [s](boost::system::error_code) {});
    }
  };
  if (hub->overflowed()) {
    spdlog::warn("connection {}: outbound queue over its limit (slow consumer), closing",
                 hub->id());
    if (auto* p = hub->protocol()) {
      p->write(protocol::CloseMessage{"Connection closed with an error.", true}, s->closeFrame);
      s->ws.binary(hub->binary());
      s->ws.async_write(asio::buffer(s->closeFrame),
                        [s, close](boost::system::error_code, std::size_t) { close(); });
      return;
    }
  }
  close();
}

}  // namespace

asio::awaitable<void> runWebSocket(asio::ip::tcp::socket socket,
                                   beast::http::request<beast::http::string_body> request,
                                   Attach attach, hub::HubServices services,
                                   ConnectionManager& manager, std::atomic<int>* liveSockets) {
  struct Live {
    std::atomic<int>* n;
    explicit Live(std::atomic<int>* n) : n(n) { if (n) ++*n; }
    ~Live() { if (n) --*n; }
  } live(liveSockets);
  auto c = attach.connection;
  if (attach.reattach) c->detachCurrent();  // the old socket, if it still lingers
  auto s = std::make_shared<Socket>(std::move(socket), c, ++c->generation);
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
  // The upgrade request's headers are not needed any more; free them for the life of
  // the connection.
  { auto done = std::move(request); }
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
        boost::system::error_code ec;
        beast::get_lowest_layer(s->ws).close(ec);
      }
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
  // Installed only now: nothing may be written on a reattached socket before the
  // Sequence message that prepareReplay put first.
  c->hub->setWakeup([queue = threadReadyQueue(executor), weak] { queue->push(weak, queue); });
  pump(s);

  bool accepting = true;  // false once the handler ended the connection: drain only
  for (;;) {
    auto [ec, n] =
        co_await s->ws.async_read_some(asio::buffer(s->readBuffer), use_nothrow);
    if (ec) {
      if (ec != websocket::error::closed && ec != asio::error::operation_aborted &&
          ec != asio::error::eof) {
        spdlog::debug("connection {}: read ended: {}", c->connectionId, ec.message());
      }
      break;
    }
    if (accepting && s->current()) {
      // Reading pauses while an invocation runs (one at a time per connection).
      auto delivering = deliverInbound(c, std::string(s->readBuffer.data(), n));
      accepting = co_await std::move(delivering);
    }
    // Once the connection is ending, keep reading (and discarding) until the writer's
    // close handshake completes, so the client's close frame is consumed.
  }
  const bool current = s->current();
  s->detached = true;  // this socket is finished either way: stop its writer
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
