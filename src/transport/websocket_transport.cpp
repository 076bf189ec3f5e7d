#include "transport/websocket_transport.h"
#include "metrics/herald_metrics.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/field.hpp>
#include <array>
#include <span>
#include <mutex>

#include <spdlog/spdlog.h>

#include "protocol/websocket/accept_key.h"
#include "protocol/websocket/frames.h"
#include "backplane/wakeup_batch.h"
#include "transport/connection_setup.h"

namespace herald::transport {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace ws = protocol::websocket;
using tcp = asio::ip::tcp;

namespace {

// Bytes taken per read. The buffer is per thread, not per connection: a socket is read
// only once it is readable, so an idle connection holds no read buffer at all.
constexpr std::size_t kReadChunk = 16ULL * 1024;
// Frames gathered into one writev; more wait for the next round.
constexpr std::size_t kMaxGather = 64;
// Hub frames sent as one WebSocket message are cut off past this many bytes (a single
// larger frame still goes alone). A backlog released at once — a slow reader catching up —
// then reaches the client as many modest messages, not one message of the whole queue,
// which a client must buffer whole before it can parse any of it.
constexpr std::size_t kMaxMessageBytes = 64ULL * 1024;

// One socket of a connection: the WebSocket protocol state over a plain TCP socket.
// Everything here runs on the socket's executor (one I/O thread), so nothing is locked.
//
// Why not Beast's websocket::stream: a server's frames are never masked, so the bytes
// of a broadcast are the same for every recipient and can go straight from the shared
// frame to the socket in one non-blocking writev. Beast's composed write copied the
// buffer sequence and allocated at every step, and its stream state took 2.6 KB per
// idle connection.
struct Socket {
  Socket(tcp::socket&& s, HttpConnectionPtr c, std::uint64_t generation, ConnectionManager& manager,
         std::atomic<int>* live)
      : socket(std::move(s)),
        connection(std::move(c)),
        generation(generation),
        manager(manager),
        live(live) {
    if (live) ++*live;
  }
  ~Socket() {
    if (live) --*live;
  }

  bool current() const { return connection->generation == generation && !detached; }

  tcp::socket socket;
  HttpConnectionPtr connection;
  const std::uint64_t generation;
  ConnectionManager& manager;
  std::atomic<int>* live;
  ws::FrameParser parser;

  // Writer: one WebSocket message carrying every hub frame taken from the queue (the
  // header covers them all, so the frames themselves go out unchanged), then `control`
  // (Pong and Close frames). `written` counts bytes of that sequence already sent.
  std::vector<hub::FramePtr> inFlight;
  std::string control;
  // The payload of the latest Ping not answered yet (at most 125 bytes). A newer Ping
  // replaces it, as RFC 6455 section 5.5.3 allows: a client that floods Pings and never
  // reads then costs one Pong, not one queued Pong per Ping (the attack run grew a server
  // to 3.5 GB that way). It moves into `control` when the writer takes its next batch, so
  // `control` holds at most one Pong and one Close.
  std::string pongPayload;
  bool pongPending = false;
  std::array<std::uint8_t, 10> header{};
  std::uint8_t headerLength = 0;
  std::size_t written = 0;
  std::int64_t recordedAt = 0;  // the batch's oldest stamp (delivery-latency metric)

  bool detached = false;         // a newer socket took over, or this one is finished
  bool waitingWritable = false;  // the kernel buffer was full: an async_wait is pending
  // Adoption's write-ahead: the batch taken is numbered but not in the mirror yet, and
  // must not be written before it is (hub/session_mirror.h).
  bool awaitingMirror = false;
  bool writerDone = false;
  bool closeSent = false;
  bool closeReceived = false;
  bool accepting = true;  // false once the handler ended the connection: drain only
  bool finished = false;
};
using SocketPtr = std::shared_ptr<Socket>;

void pump(const SocketPtr& s);
void startReading(const SocketPtr& s);
void finish(const SocketPtr& s);

// The mirror answered for the batch the writer holds (on the socket's executor).
void mirrored(const SocketPtr& s, hub::MirrorWrite result) {
  s->awaitingMirror = false;
  if (result == hub::MirrorWrite::Fenced) {
    // Another node adopted the connection (its client reattached there): this node lets
    // it go without writing a byte more, so the client gets each frame from one node.
    spdlog::info("connection {}: adopted by another node; dropped here",
                 s->connection->connectionId);
    s->inFlight.clear();
    s->headerLength = 0;
    s->written = 0;
    s->connection->hub->close(std::nullopt);
    return finish(s);
  }
  pump(s);
}

// Hands the batch just taken to the mirror if it numbered frames (a mirrored stateful
// connection); the writer then waits for mirrored().
void mirrorBatch(const SocketPtr& s) {
  if (!s->connection->hub->mirrored()) return;  // the common case: no cluster, no cost
  std::weak_ptr<Socket> weak = s;
  auto executor = s->socket.get_executor();
  const bool waiting = s->connection->hub->mirrorTaken([weak, executor](hub::MirrorWrite result) {
    asio::post(executor, [weak, result] {
      if (auto s = weak.lock()) mirrored(s, result);
    });
  });
  if (waiting) s->awaitingMirror = true;
}

// The socket is done: stop both directions and tell the connection manager, unless a
// newer socket carries the connection now.
void finish(const SocketPtr& s) {
  if (s->finished) return;
  s->finished = true;
  const bool current = s->current();
  s->detached = true;
  s->writerDone = true;
  boost::system::error_code ignored;
  s->socket.close(ignored);
  s->inFlight.clear();
  if (!current) return;
  auto& c = s->connection;
  if (c->hub->closing() || s->closeReceived || !c->hub->statefulReconnect()) {
    s->manager.dispose(c);
  } else {
    // Stateful: keep groups and buffers; the client reattaches within DisconnectTimeout
    // or the reaper disposes the connection.
    s->manager.setActive(c, false);
    spdlog::debug("connection {}: socket lost, waiting for a stateful reattach", c->connectionId);
  }
}

std::size_t pendingBytes(const Socket& s) {
  std::size_t total = s.headerLength + s.control.size();
  for (const auto& f : s.inFlight) total += f->size();
  return total;
}

// Fills `out` with what is left to write after `skip` bytes. Returns the count used.
std::size_t gather(const Socket& s, std::size_t skip,
                   std::array<asio::const_buffer, kMaxGather>& out) {
  std::size_t n = 0;
  auto add = [&](const void* data, std::size_t size) {
    if (n == out.size()) return;
    if (skip >= size) {
      skip -= size;
      return;
    }
    out[n++] = asio::const_buffer(static_cast<const char*>(data) + skip, size - skip);
    skip = 0;
  };
  add(s.header.data(), s.headerLength);
  for (const auto& f : s.inFlight) add(f->data(), f->size());
  add(s.control.data(), s.control.size());
  return n;
}

// Takes the next batch to write. False when there is nothing to write.
bool takeNext(const SocketPtr& s) {
  auto& hub = s->connection->hub;
  s->written = 0;
  s->headerLength = 0;
  if (s->pongPending) {
    s->pongPending = false;
    if (!s->closeSent) ws::appendFrame(ws::Opcode::Pong, s->pongPayload, s->control);
  }
  if (!s->closeSent && s->current()) {
    bool binary = false;
    const bool closing = hub->takeQueued(s->inFlight, binary, kMaxMessageBytes, &s->recordedAt);
    if (!s->inFlight.empty()) {
      std::size_t size = 0;
      for (const auto& f : s->inFlight) size += f->size();
      s->headerLength = static_cast<std::uint8_t>(ws::encodeFrameHeader(
          binary ? ws::Opcode::Binary : ws::Opcode::Text, size, s->header.data()));
      mirrorBatch(s);
      return true;
    }
    if (closing) {
      // The hub ended the connection and its last frame is out: close the WebSocket.
      if (hub->overflowed()) {
        spdlog::warn("connection {}: outbound queue over its limit (slow consumer), closing",
                     hub->id());
        if (auto* p = hub->protocol()) {
          std::string message;
          p->write(protocol::CloseMessage{"Connection closed with an error.", true}, message);
          ws::appendFrame(hub->binary() ? ws::Opcode::Binary : ws::Opcode::Text, message,
                          s->control);
        }
      }
      s->control += ws::closeFrame(1000, "");
      s->closeSent = true;
    }
  }
  return !s->control.empty();
}

// The single writer of a socket, as a callback chain rather than a coroutine: an idle
// connection then holds no writer state at all. Writes synchronously while the kernel
// takes the bytes (the common case: one writev per wake-up) and waits for writability
// only when it does not.
void pump(const SocketPtr& s) {
  if (s->waitingWritable || s->writerDone || s->awaitingMirror) return;
  std::array<asio::const_buffer, kMaxGather> buffers;
  for (;;) {
    std::size_t total = pendingBytes(*s);
    if (s->written == total) {
      // The whole batch is in the kernel's hands: one observation per batch.
      if (!s->inFlight.empty()) metrics::batchWritten(s->inFlight.size(), s->recordedAt);
      s->inFlight.clear();
      s->control.clear();
      if (s->closeSent && s->closeReceived) return finish(s);  // closing handshake done
      if (!takeNext(s)) {
        // A burst's vectors are not kept for the connection's idle life.
        if (s->inFlight.capacity() > 16) std::vector<hub::FramePtr>().swap(s->inFlight);
        if (s->control.capacity() > 256) std::string().swap(s->control);
        return;
      }
      if (s->awaitingMirror) return;  // mirrored() resumes
      total = pendingBytes(*s);
    }
    const std::size_t count = gather(*s, s->written, buffers);
    boost::system::error_code ec;
    const std::size_t n =
        s->socket.write_some(std::span<const asio::const_buffer>(buffers.data(), count), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      s->waitingWritable = true;
      s->socket.async_wait(tcp::socket::wait_write, [s](boost::system::error_code wec) {
        s->waitingWritable = false;
        if (wec) return finish(s);
        pump(s);
      });
      return;
    }
    if (ec) {
      spdlog::debug("connection {}: write failed: {}", s->connection->connectionId, ec.message());
      return finish(s);
    }
    s->written += n;
  }
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
    if (!schedule) return;
    auto post = [self] { asio::post(self->executor_, [self] { self->drain(); }); };
    if (!backplane::WakeupBatch::defer(post)) post();
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

void deliver(const SocketPtr& s, std::string bytes);

// Reads what the socket has, handles WebSocket control frames here and hands message
// bytes to the hub. Called when the socket is readable (or after a delivery finished).
void readAvailable(const SocketPtr& s) {
  thread_local std::array<char, kReadChunk> buffer;
  thread_local std::vector<ws::FrameEvent> events;
  while (!s->finished) {
    boost::system::error_code ec;
    const std::size_t n = s->socket.read_some(asio::buffer(buffer), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return startReading(s);
    if (ec) {
      if (ec != asio::error::eof && ec != asio::error::operation_aborted &&
          ec != asio::error::bad_descriptor) {
        spdlog::debug("connection {}: read ended: {}", s->connection->connectionId, ec.message());
      }
      return finish(s);
    }
    events.clear();
    if (!s->parser.feed(std::string_view(buffer.data(), n), events)) {
      if (s->parser.closed()) continue;  // bytes after the client's Close: ignored
      const auto& error = s->parser.error();
      spdlog::debug("connection {}: WebSocket protocol error: {}", s->connection->connectionId,
                    error.reason);
      if (!s->closeSent) {
        s->control += ws::closeFrame(error.closeCode, error.reason);
        s->closeSent = true;
      }
      s->closeReceived = true;  // nothing more will be read: finish once the Close is out
      s->accepting = false;
      s->connection->hub->close(std::nullopt);
      return pump(s);
    }
    std::string data;
    for (auto& e : events) {
      switch (e.kind) {
        case ws::FrameEvent::Kind::Data: data += e.payload; break;
        case ws::FrameEvent::Kind::Ping:
          if (!s->closeSent) {
            s->pongPayload.assign(e.payload);
            s->pongPending = true;
          }
          break;
        case ws::FrameEvent::Kind::Pong: break;
        case ws::FrameEvent::Kind::Close:
          s->closeReceived = true;
          if (!s->closeSent) {
            // Echo the code, as RFC 6455 section 5.5.1 suggests.
            const std::uint16_t code = e.closeCode == 1005 ? 1000 : e.closeCode;
            s->control += ws::closeFrame(code, "");
            s->closeSent = true;
          }
          break;
      }
    }
    if (s->closeReceived) {
      // The client is gone. The hub side ends when the socket finishes: once our Close
      // is written, or when the close timeout gives up on writing it.
      s->connection->hub->close(std::nullopt);
      return pump(s);
    }
    if (s->pongPending || !s->control.empty()) pump(s);
    if (!data.empty() && s->accepting && s->current()) return deliver(s, std::move(data));
  }
}

void startReading(const SocketPtr& s) {
  if (s->finished) return;
  s->socket.async_wait(tcp::socket::wait_read, [s](boost::system::error_code ec) {
    if (ec) return finish(s);
    readAvailable(s);
  });
}

// Hands received message bytes to the hub handler; reading pauses until it is done (one
// invocation at a time per connection, as in ASP.NET).
asio::awaitable<void> deliverAndResume(SocketPtr s, std::string bytes) {
  auto delivering = deliverInbound(s->connection, std::move(bytes));
  const bool accepting = co_await std::move(delivering);
  // Once the connection is ending, keep reading (and discarding) until the writer's
  // close handshake completes, so the client's Close frame is consumed.
  if (!accepting) s->accepting = false;
  readAvailable(s);
}

void deliver(const SocketPtr& s, std::string bytes) {
  asio::co_spawn(s->socket.get_executor(), deliverAndResume(s, std::move(bytes)), asio::detached);
}

// After the 101 is out: wire the socket to the hub connection and start both loops.
void open(const SocketPtr& s, const Attach& attach, const hub::HubServices& services) {
  auto& c = s->connection;
  auto executor = s->socket.get_executor();
  if (attach.first) {
    setUpConnection(c, services, hub::TransportFeatures{true, false, true}, s->manager,
                    "websockets");
  }
  spdlog::debug("connection {}: websocket open{}", c->connectionId,
                attach.reattach ? " (stateful reattach)" : "");
  std::weak_ptr<Socket> weak = s;
  c->setDetach([executor, weak] {
    asio::post(executor, [weak] {
      if (auto s = weak.lock()) {
        s->detached = true;
        boost::system::error_code ec;
        s->socket.close(ec);  // pending waits end with operation_aborted
      }
    });
  });
  auto wire = [s, executor] {
    auto& c = s->connection;
    // Installed only now: nothing may be written on a reattached socket before the
    // Sequence message that prepareReplay put first.
    c->hub->setWakeup([queue = threadReadyQueue(executor), weak = std::weak_ptr<Socket>(s)] {
      queue->push(weak, queue);
    });
    pump(s);
    readAvailable(s);
  };
  if (!attach.reattach) return wire();
  // The handler lives on the connection's home executor: reset its inbound state there,
  // then come back and replay (Sequence first, then every unacknowledged message).
  asio::post(c->home, [s, executor, wire] {
    s->connection->handler->onReattached();
    asio::post(executor, [s, wire] {
      if (!s->current()) return finish(s);
      s->connection->hub->prepareReplay();
      wire();
    });
  });
}

}  // namespace

void startWebSocket(tcp::socket socket, const bhttp::request<bhttp::string_body>& request,
                    Attach attach, const hub::HubServices& services, ConnectionManager& manager,
                    std::atomic<int>* liveSockets) {
  auto c = attach.connection;
  if (attach.reattach) c->detachCurrent();  // the old socket, if it still lingers
  auto s = std::make_shared<Socket>(std::move(socket), c, ++c->generation, manager, liveSockets);
  boost::system::error_code ec;
  s->socket.non_blocking(true, ec);
  // Extensions (permessage-deflate) are not accepted: progress frames are small and
  // compressing each per connection would undo serialise-once.
  auto response = std::make_shared<std::string>(
      "HTTP/1.1 101 Switching Protocols\r\nServer: Herald\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
      ws::secWebSocketAccept(request[bhttp::field::sec_websocket_key]) + "\r\n\r\n");
  asio::async_write(s->socket, asio::buffer(*response),
                    [s, response, attach = std::move(attach), services](
                        boost::system::error_code wec, std::size_t) {
                      if (wec) {
                        spdlog::debug("connection {}: websocket accept failed: {}",
                                      s->connection->connectionId, wec.message());
                        s->finished = true;
                        if (attach.first)
                          s->manager.dispose(s->connection);
                        else
                          s->manager.setActive(s->connection, false);
                        return;
                      }
                      open(s, attach, services);
                    });
}

}  // namespace herald::transport
