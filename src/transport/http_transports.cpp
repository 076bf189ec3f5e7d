#include "transport/http_transports.h"
#include "metrics/herald_metrics.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "core/strings.h"
#include "transport/connection_setup.h"

namespace herald::transport {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace std::chrono_literals;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
using Headers = std::vector<std::pair<std::string, std::string>>;

// Builds a response; a plain function because g++ 12 miscompiles string-literal
// default arguments of coroutines.
bhttp::response<bhttp::string_body> makeResponse(
    unsigned version, bool keepAlive, int status, std::string body, const Headers& extra,
    std::string_view contentType = "text/plain; charset=utf-8", const Headers& more = Headers()) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), version};
  res.set(bhttp::field::server, "Herald");
  res.set("X-Content-Type-Options", "nosniff");  // as every Herald answer (http_server.cpp)
  if (!contentType.empty()) res.set(bhttp::field::content_type, contentType);
  for (const auto& [k, v] : extra) res.set(k, v);
  for (const auto& [k, v] : more) res.set(k, v);
  res.keep_alive(keepAlive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

// A response (a poll's body can be up to MaxOutboundQueueBytes) gets this long to reach a
// client that does not read it; then the socket is closed rather than held for ever.
constexpr auto kWriteTimeout = 30s;

asio::awaitable<bool> write(beast::tcp_stream& stream, bhttp::response<bhttp::string_body> res) {
  bool keepAlive = res.keep_alive();
  stream.expires_after(kWriteTimeout);
  auto [ec, n] = co_await bhttp::async_write(stream, res, use_nothrow);
  co_return !ec && keepAlive;
}

std::string concat(const std::vector<hub::FramePtr>& frames) {
  std::size_t size = 0;
  for (const auto& f : frames) size += f->size();
  std::string out;
  out.reserve(size);
  for (const auto& f : frames) out += *f;
  return out;
}

// One SSE event per batch: each line of the payload becomes a `data:` line.
std::string sseEvent(const std::string& payload) {
  std::string out;
  out.reserve(payload.size() + 16);
  std::size_t start = 0;
  while (true) {
    auto nl = payload.find('\n', start);
    auto piece = std::string_view(payload).substr(
        start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!piece.empty() && piece.back() == '\r') piece.remove_suffix(1);
    out += "data: ";
    out += piece;
    out += "\r\n";
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  out += "\r\n";
  return out;
}

const Headers kNoCache = {{"Cache-Control", "no-cache, no-store"},
                          {"Pragma", "no-cache"},
                          {"Expires", "Thu, 01 Jan 1970 00:00:00 GMT"}};

// ---- Server-Sent Events ------------------------------------------------------------

asio::awaitable<bool> serveSse(beast::tcp_stream& stream, unsigned version, Attach attach,
                               TransportContext& ctx, const Headers& extra) {
  auto c = attach.connection;
  if (attach.first) {
    setUpConnection(c, ctx.services, hub::TransportFeatures{false, false, false}, ctx.connections,
                    "serversentevents");
  }
  // Headers, then the comment line: browsers fire `open` only once bytes arrive.
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: Herald\r\nX-Content-Type-Options: nosniff\r\n"
      "Content-Type: text/event-stream\r\n"
      "Cache-Control: no-cache,no-store\r\nPragma: no-cache\r\n"
      "Content-Encoding: identity\r\nConnection: close\r\n";
  for (const auto& [k, v] : extra) head.append(k).append(": ").append(v).append("\r\n");
  head += "\r\n:\r\n";
  stream.expires_never();
  auto [hec, hn] = co_await asio::async_write(stream, asio::buffer(head), use_nothrow);
  if (hec) {
    ctx.connections.dispose(c);
    co_return false;
  }

  auto executor = stream.get_executor();
  auto wake =
      std::make_shared<asio::steady_timer>(executor, std::chrono::steady_clock::time_point::max());
  auto gone = std::make_shared<bool>(false);
  std::weak_ptr<asio::steady_timer> weakWake = wake;
  c->hub->setWakeup([executor, weakWake] {
    asio::post(executor, [weakWake] {
      if (auto w = weakWake.lock()) w->cancel();
    });
  });
  // A client that stops reading leaves the write below pending forever: its queue then
  // overflows (the slow-consumer bound) and the connection handler gives up on it after
  // its close timeout, or a shutdown ends it. Either calls detachCurrent(), which closes
  // the socket here so the pending write fails and the request ends (the attack run of
  // issue 12 found such a client still ESTABLISHED after 120 s). `serving` tells the
  // posted close whether this request (and so `stream`) still exists.
  auto serving = std::make_shared<bool>(true);
  c->setDetach([executor, serving, &stream] {
    asio::post(executor, [serving, &stream] {
      if (!*serving) return;
      boost::system::error_code ignored;
      stream.socket().close(ignored);
    });
  });
  // The client ends SSE by dropping the request: watch the socket for that.
  asio::co_spawn(
      executor,
      [&stream, wake, gone]() -> asio::awaitable<void> {
        char byte;
        co_await stream.socket().async_read_some(asio::buffer(&byte, 1), use_nothrow);
        *gone = true;
        wake->cancel();
      },
      asio::detached);

  for (;;) {
    if (*gone || c->disposed) break;
    std::int64_t recordedAt = 0;
    auto frames = c->hub->takeQueued(&recordedAt);
    if (frames.empty()) {
      if (c->hub->closing()) break;
      co_await wake->async_wait(use_nothrow);
      continue;
    }
    auto event = sseEvent(concat(frames));
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(event), use_nothrow);
    if (ec) break;
    metrics::batchWritten(frames.size(), recordedAt);
  }
  *serving = false;
  c->hub->setWakeup({});
  ctx.connections.dispose(c);
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
  co_return false;
}

// ---- Long polling ------------------------------------------------------------------

asio::awaitable<bool> servePoll(beast::tcp_stream& stream, unsigned version, bool keepAlive,
                                Attach attach, TransportContext& ctx, const Headers& extra) {
  auto c = attach.connection;
  if (attach.first) {
    setUpConnection(c, ctx.services, hub::TransportFeatures{true, true, false}, ctx.connections,
                    "longpolling");
  }
  if (!c->longPollStarted) {
    // The first poll answers at once: for the client it means "connected".
    c->longPollStarted = true;
    ctx.connections.setActive(c, false);
    {
      auto res1 =
          makeResponse(version, keepAlive, 200, "", extra, "application/octet-stream", kNoCache);
      auto wres1 = write(stream, std::move(res1));
      co_return co_await std::move(wres1);
    }
  }
  // A newer poll replaces an older one, which answers 204.
  c->detachCurrent();
  const auto generation = ++c->generation;
  auto executor = stream.get_executor();
  auto wake = std::make_shared<asio::steady_timer>(executor);
  std::weak_ptr<asio::steady_timer> weakWake = wake;
  auto cancel = [executor, weakWake] {
    asio::post(executor, [weakWake] {
      if (auto w = weakWake.lock()) w->cancel();
    });
  };
  c->setDetach(cancel);
  c->hub->setWakeup(cancel);

  const auto deadline = std::chrono::steady_clock::now() + ctx.pollTimeout;
  std::string body;
  int status = 200;
  std::size_t frameCount = 0;
  std::int64_t recordedAt = 0;
  for (;;) {
    if (c->generation != generation) {
      status = 204;  // superseded
      break;
    }
    auto frames = c->hub->takeQueued(&recordedAt);
    if (!frames.empty()) {
      body = concat(frames);
      frameCount = frames.size();
      break;
    }
    if (c->hub->closing() || c->disposed) {
      status = 204;
      ctx.connections.dispose(c);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;  // 200, empty: poll again
    wake->expires_at(deadline);
    co_await wake->async_wait(use_nothrow);
  }
  if (c->generation == generation) {
    c->hub->setWakeup({});
    if (!c->disposed) ctx.connections.setActive(c, false);
  }
  {
    auto res2 = makeResponse(version, keepAlive, status, std::move(body), extra,
                             status == 200 ? "application/octet-stream" : "", kNoCache);
    auto wres2 = write(stream, std::move(res2));
    const bool open = co_await std::move(wres2);
    if (frameCount > 0) metrics::batchWritten(frameCount, recordedAt);
    co_return open;
  }
}

}  // namespace

asio::awaitable<bool> serveTransportRequest(beast::tcp_stream& stream,
                                            const bhttp::request<bhttp::string_body>& request,
                                            const core::HttpRequest& parsed, TransportContext& ctx,
                                            const Headers& extra) {
  const auto version = request.version();
  const bool keepAlive = request.keep_alive();
  auto id = core::queryValue(parsed.query, "id");
  if (!id || id->empty()) {
    {
      auto res3 = makeResponse(version, keepAlive, 400, "Connection ID required", extra);
      auto wres3 = write(stream, std::move(res3));
      co_return co_await std::move(wres3);
    }
  }

  if (parsed.method == "GET") {
    auto accept = parsed.header("accept").value_or("");
    const bool sse = accept.find("text/event-stream") != std::string::npos;
    if ((sse && !ctx.options.serverSentEvents) || (!sse && !ctx.options.longPolling)) {
      {
        auto res4 = makeResponse(version, keepAlive, 404, "Transport not enabled", extra);
        auto wres4 = write(stream, std::move(res4));
        co_return co_await std::move(wres4);
      }
    }
    auto kind = sse ? TransportKind::ServerSentEvents : TransportKind::LongPolling;
    auto attach = ctx.connections.attach(*id, kind, stream.get_executor());
    switch (attach.result) {
      case AttachResult::Ok: break;
      case AttachResult::NotFound: {
        auto res5 = makeResponse(version, keepAlive, 404, "No Connection with that ID", extra);
        auto wres5 = write(stream, std::move(res5));
        co_return co_await std::move(wres5);
      }
      case AttachResult::Conflict: {
        auto res6 = makeResponse(version, keepAlive, 409,
                                 "Connection already has an active request", extra);
        auto wres6 = write(stream, std::move(res6));
        co_return co_await std::move(wres6);
      }
      case AttachResult::WrongTransport: {
        auto res7 =
            makeResponse(version, keepAlive, 400, "Cannot change transports mid-connection", extra);
        auto wres7 = write(stream, std::move(res7));
        co_return co_await std::move(wres7);
      }
    }
    if (sse) {
      auto serving = serveSse(stream, version, std::move(attach), ctx, extra);
      co_return co_await std::move(serving);
    }
    auto polling = servePoll(stream, version, keepAlive, std::move(attach), ctx, extra);
    co_return co_await std::move(polling);
  }

  if (parsed.method == "POST") {
    auto c = ctx.connections.find(*id);
    if (!c || c->disposed || !c->handler) {
      {
        auto res8 = makeResponse(version, keepAlive, 404, "No Connection with that ID", extra);
        auto wres8 = write(stream, std::move(res8));
        co_return co_await std::move(wres8);
      }
    }
    if (c->transport == TransportKind::WebSockets) {
      {
        auto res9 = makeResponse(version, keepAlive, 405,
                                 "POST requests are not allowed for WebSocket connections.", extra);
        auto wres9 = write(stream, std::move(res9));
        co_return co_await std::move(wres9);
      }
    }
    // If the hub side ends here (a Close is queued), the next poll or SSE write
    // delivers it and finishes the transport.
    auto delivering = deliverInbound(c, parsed.body);
    co_await std::move(delivering);
    {
      auto res10 = makeResponse(version, keepAlive, 200, "", extra, "");
      auto wres10 = write(stream, std::move(res10));
      co_return co_await std::move(wres10);
    }
  }

  if (parsed.method == "DELETE") {
    auto c = ctx.connections.find(*id);
    if (!c) {
      {
        auto res11 = makeResponse(version, keepAlive, 404, "No Connection with that ID", extra);
        auto wres11 = write(stream, std::move(res11));
        co_return co_await std::move(wres11);
      }
    }
    if (c->transport != TransportKind::LongPolling) {
      {
        auto res12 =
            makeResponse(version, keepAlive, 400,
                         "Cannot terminate this connection using the DELETE endpoint.", extra);
        auto wres12 = write(stream, std::move(res12));
        co_return co_await std::move(wres12);
      }
    }
    ctx.connections.dispose(c);
    c->detachCurrent();  // a pending poll answers 204
    {
      auto res13 = makeResponse(version, keepAlive, 202, "", extra, "");
      auto wres13 = write(stream, std::move(res13));
      co_return co_await std::move(wres13);
    }
  }

  {
    auto res14 = makeResponse(version, keepAlive, 405, "Method Not Allowed", extra, "",
                              Headers{{"Allow", "GET, POST, DELETE"}});
    auto wres14 = write(stream, std::move(res14));
    co_return co_await std::move(wres14);
  }
}

}  // namespace herald::transport
