#include "http/http_server.h"

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <spdlog/spdlog.h>

#include "metrics/herald_metrics.h"
#include "api/problem.h"
#include "api/router.h"
#include "core/strings.h"
#include "http/cors.h"
#include "protocol/websocket/accept_key.h"
#include "transport/websocket_transport.h"

namespace herald::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// The reason label of a refused request: the answer's own when it names one, else its
// status's.
void countRejected(const core::HttpResponse& response) {
  if (response.rejectReason) return metrics::rejected(response.rejectReason);
  switch (response.status) {
    case 400: return metrics::rejected("bad_request");
    case 401: return metrics::rejected("unauthorized");
    case 403: return metrics::rejected("forbidden");
    case 404: return metrics::rejected("not_found");
    case 405: return metrics::rejected("method_not_allowed");
    case 409: return metrics::rejected("conflict");
    case 413: return metrics::rejected("body_too_large");
    case 503: return metrics::rejected("unavailable");
    default: return metrics::rejected(response.status >= 500 ? "server_error" : "other");
  }
}

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kHubPath = "/hubs/job-progress";
constexpr std::string_view kNegotiatePath = "/hubs/job-progress/negotiate";
// A client gets this long to send a whole request; bounds idle keep-alive sockets too.
constexpr auto kRequestTimeout = 30s;

struct Counter {
  std::atomic<int>& n;
  explicit Counter(std::atomic<int>& c) : n(c) { ++n; }
  ~Counter() { --n; }
};

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The path of a request target, percent-decoded (an escape that is not two hex digits
// stays as it is). Most paths have no escape at all and are copied in one go.
std::string decodePath(std::string_view target) {
  auto raw = target.substr(0, target.find('?'));
  if (raw.find('%') == std::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    int hi = 0, lo = 0;
    if (raw[i] == '%' && i + 2 < raw.size() && (hi = hexValue(raw[i + 1])) >= 0 &&
        (lo = hexValue(raw[i + 2])) >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += raw[i];
    }
  }
  return out;
}

// `path` is the target's decoded path and `remoteAddress` the peer's address as text, both
// worked out once by the caller. The body moves: the session keeps only the request line
// and headers.
core::HttpRequest toCore(bhttp::request<bhttp::string_body>& req, std::string path,
                         const std::string& remoteAddress) {
  core::HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.path = std::move(path);
  auto q = r.target.find('?');
  if (q != std::string::npos) r.query = core::parseQuery(std::string_view(r.target).substr(q + 1));
  for (const auto& field : req) {
    r.headers[core::toLower(field.name_string())] = std::string(field.value());
  }
  r.body = std::move(req.body());
  r.remoteAddress = remoteAddress;
  return r;
}

// The bytes of a response, written by hand: Beast's serializer and composed write cost
// ~23k instructions per answer, a third of the HTTP work of a progress report. The
// header values are the server's own (and a request's Origin, which the parser already
// checked), so there is nothing to escape.
std::string serializeResponse(const core::HttpResponse& res, unsigned version, bool keepAlive,
                              bool head) {
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  std::string out;
  out.reserve(160 + res.body.size() + res.headers.size() * 48);
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.status);
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\nServer: Herald\r\n";
  if (!res.contentType.empty()) out.append("Content-Type: ").append(res.contentType).append("\r\n");
  for (const auto& [k, v] : res.headers) out.append(k).append(": ").append(v).append("\r\n");
  if (version == 10 && keepAlive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keepAlive) out += "Connection: close\r\n";
  out.append("Content-Length: ").append(std::to_string(res.body.size())).append("\r\n\r\n");
  if (!head) out += res.body;
  return out;
}

// Writes an answer. Usually it fits the socket buffer and goes out now, without a trip
// through the event loop; the rest (if any) follows asynchronously. `bytes` by value: the
// coroutine outlives the caller's temporaries.
asio::awaitable<boost::system::error_code> writeResponse(beast::tcp_stream& stream,
                                                         std::string bytes) {
  boost::system::error_code ec;
  std::size_t written = stream.socket().write_some(asio::buffer(bytes), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    written = 0;
    ec = {};
  }
  if (!ec && written < bytes.size()) {
    stream.expires_after(kRequestTimeout);
    auto rest = asio::buffer(bytes.data() + written, bytes.size() - written);
    auto [aec, n] = co_await asio::async_write(stream, rest, use_nothrow);
    ec = aec;
  }
  co_return ec;
}

// Reads one request into `parser`: what is buffered first, then non-blocking reads, and
// only when the socket has nothing an asynchronous read (with the request timeout).
// Beast's async_read does the same through three layers of composed operations, which
// cost ~35k instructions per progress report; the parser (and its limits) is Beast's.
asio::awaitable<boost::system::error_code> readRequest(
    beast::tcp_stream& stream, beast::flat_buffer& buffer,
    bhttp::request_parser<bhttp::string_body>& parser) {
  parser.eager(true);
  // One deadline for the whole request, however it trickles in.
  const auto deadline = std::chrono::steady_clock::now() + kRequestTimeout;
  boost::system::error_code ec;
  for (;;) {
    if (buffer.size() > 0) {
      const auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == bhttp::error::need_more) ec = {};
      if (ec) co_return ec;
      if (parser.is_done()) co_return ec;
      if (used > 0) continue;  // a header was parsed: the body may already be buffered
    }
    auto space = buffer.prepare(std::min<std::size_t>(
        std::max<std::size_t>(512, buffer.capacity() - buffer.size()), std::size_t{64} * 1024));
    std::size_t n = stream.socket().read_some(space, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      stream.expires_at(deadline);
      auto [aec, an] = co_await stream.async_read_some(space, use_nothrow);
      ec = aec;
      n = an;
    }
    if (ec == asio::error::eof) {
      // The peer closed: the end of a message that ends with the connection, or an
      // orderly close between requests.
      if (parser.got_some()) {
        parser.put_eof(ec);
        co_return ec ? ec : boost::system::error_code{};
      }
      co_return bhttp::error::end_of_stream;
    }
    if (ec) co_return ec;
    buffer.commit(n);
  }
}

enum class HubPath { None, Hub, Negotiate };

// Which hub endpoint `path` names, matched as the REST routes are (case-insensitive, one
// optional trailing slash): "/Hubs/Job-Progress/" is the hub.
HubPath hubPath(std::string_view path) {
  // Most requests are REST calls: one cheap comparison rules them out.
  if (path.size() < kHubPath.size() || !core::iequals(path.substr(0, 6), "/hubs/")) {
    return HubPath::None;
  }
  if (api::pathMatches(kHubPath, path)) return HubPath::Hub;
  if (api::pathMatches(kNegotiatePath, path)) return HubPath::Negotiate;
  return HubPath::None;
}

core::HttpResponse textResponse(int status, std::string text) {
  core::HttpResponse r;
  r.status = status;
  r.contentType = "text/plain; charset=utf-8";
  r.body = std::move(text);
  return r;
}

std::string mimeType(const std::filesystem::path& p) {
  auto ext = core::toLower(p.extension().string());
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json" || ext == ".map") return "application/json";
  if (ext == ".png") return "image/png";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

// Serves a file under the web root; refuses anything that resolves outside it.
std::optional<core::HttpResponse> staticFile(const std::string& webRoot, const std::string& path) {
  if (webRoot.empty()) return std::nullopt;
  namespace fs = std::filesystem;
  std::error_code ec;
  auto root = fs::weakly_canonical(webRoot, ec);
  if (ec) return std::nullopt;
  auto rel = path.empty() || path == "/" ? std::string("index.html") : path.substr(1);
  auto full = fs::weakly_canonical(root / rel, ec);
  if (ec) return std::nullopt;
  auto [r, f] = std::mismatch(root.begin(), root.end(), full.begin(), full.end());
  if (r != root.end()) return std::nullopt;
  if (fs::is_directory(full, ec)) full /= "index.html";
  if (!fs::is_regular_file(full, ec)) return std::nullopt;
  std::ifstream in(full, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  core::HttpResponse res;
  res.contentType = mimeType(full);
  res.body = ss.str();
  return res;
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServer& owner, std::vector<asio::io_context*> contexts, const config::Config& config,
       Routes routes)
      : owner(owner),
        contexts(std::move(contexts)),
        config(config),
        routes(std::move(routes)),
        acceptor(*this->contexts.front()) {}

  asio::awaitable<void> acceptLoop() {
    std::size_t next = 0;
    for (;;) {
      auto& ctx = *contexts[next++ % contexts.size()];
      tcp::socket socket(ctx);
      auto [ec] = co_await acceptor.async_accept(socket, use_nothrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
        spdlog::warn("accept failed: {}", ec.message());
        if (ec == asio::error::no_descriptors) {
          // Out of file descriptors: back off instead of spinning on the error.
          asio::steady_timer t(acceptor.get_executor(), 100ms);
          co_await t.async_wait(use_nothrow);
        }
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto exec = socket.get_executor();
      asio::co_spawn(exec, session(beast::tcp_stream(std::move(socket))), asio::detached);
    }
  }

  // Lets shutdown close keep-alive connections that sit between requests.
  struct SessionState {
    beast::tcp_stream* stream = nullptr;
    bool busy = false;
  };

  void closeIdleSessions() {
    std::lock_guard lock(sessionsMutex);
    for (auto& [id, entry] : sessions) {
      auto& [executor, weak] = entry;
      asio::post(executor, [weak = weak] {
        if (auto st = weak.lock(); st && st->stream && !st->busy) {
          boost::system::error_code ec;
          st->stream->socket().close(ec);
        }
      });
    }
  }

  asio::awaitable<void> session(beast::tcp_stream stream) {
    Counter sockets(owner.activeSockets_);
    auto state = std::make_shared<SessionState>();
    state->stream = &stream;
    std::uint64_t sessionId;
    {
      std::lock_guard lock(sessionsMutex);
      sessionId = ++nextSessionId;
      sessions.emplace(sessionId, std::make_pair(stream.get_executor(), std::weak_ptr(state)));
    }
    struct Unregister {
      Impl& impl;
      std::uint64_t id;
      std::shared_ptr<SessionState> state;
      ~Unregister() {
        state->stream = nullptr;
        std::lock_guard lock(impl.sessionsMutex);
        impl.sessions.erase(id);
      }
    } unregister{*this, sessionId, state};
    // Registered before this check, so shutdown either sees the session or the session
    // sees shutdown: none waits out its read timeout.
    if (stopping) co_return;
    beast::flat_buffer buffer;
    boost::system::error_code epEc;
    auto remote = stream.socket().remote_endpoint(epEc);
    // Once per connection: formatting an address costs more than parsing a small request.
    const auto remoteAddress = remote.address().to_string();
    // Non-blocking for the immediate answer writes below (Asio's asynchronous operations
    // work the same either way).
    stream.socket().non_blocking(true, epEc);
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(config.server.maxHttpBodyBytes);
      parser.header_limit(16 * 1024);
      auto reading = readRequest(stream, buffer, parser);
      auto ec = co_await std::move(reading);
      if (ec) {
        std::optional<core::HttpResponse> answer;
        if (ec == bhttp::error::body_limit) {
          answer = textResponse(413, "Request body too large");
          metrics::rejected("body_too_large");
        } else if (ec != bhttp::error::end_of_stream && ec != beast::error::timeout &&
                   ec != asio::error::connection_reset && ec != asio::error::eof) {
          answer = textResponse(400, "Malformed HTTP request");
          metrics::rejected("malformed_http");
        }
        if (answer) {
          auto writing = writeResponse(stream, serializeResponse(*answer, 11, false, false));
          co_await std::move(writing);
        }
        break;
      }
      auto req = parser.release();
      auto path = decodePath(req.target());
      state->busy = true;
      const auto hub = hubPath(path);
      // The request context: the request and its principal, worked out here and only here.
      auth::RequestContext context{toCore(req, path, remoteAddress), {}};
      context.principal = routes.authenticator.authenticate(context.request);

      // With authentication, every request to the hub (negotiate, WebSocket upgrade, SSE,
      // long polls and sends) needs a valid credential, and one of the same user as the
      // connection it names; the REST routes check theirs in the router.
      if (hub != HubPath::None && config.app.enableAuth && req.method() != bhttp::verb::options) {
        if (auto refusal = hubRefusal(context)) {
          countRejected(*refusal);
          for (auto& h : corsHeaders(config.app.allowedOrigins, context.request)) {
            refusal->headers.push_back(h);
          }
          const bool keepAlive =
              req.keep_alive() && !stopping && !beast::websocket::is_upgrade(req);
          auto writing =
              writeResponse(stream, serializeResponse(*refusal, req.version(), keepAlive, false));
          auto wec = co_await std::move(writing);
          state->busy = false;
          if (wec || !keepAlive) break;
          continue;
        }
      }

      if (beast::websocket::is_upgrade(req) && hub == HubPath::Hub) {
        // The WebSocket runs in its own coroutine so that this session's frame (parse
        // buffer, stream wrapper) is freed: it would otherwise live as long as the socket.
        core::HttpResponse refusal;
        auto attach = attachWebSocket(req, context.principal, stream.get_executor(), refusal);
        if (attach.result != transport::AttachResult::Ok) {
          auto writing =
              writeResponse(stream, serializeResponse(refusal, req.version(), false, false));
          co_await std::move(writing);
          break;
        }
        transport::startWebSocket(stream.release_socket(), req, std::move(attach),
                                  routes.transport.services, routes.transport.connections,
                                  &owner.activeSockets_);
        co_return;
      }

      const auto& parsed = context.request;
      auto cors = corsHeaders(config.app.allowedOrigins, parsed);
      if (hub == HubPath::Hub && req.method() != bhttp::verb::options) {
        Counter inflight(owner.activeRequests_);
        bool reuse =
            co_await transport::serveTransportRequest(stream, req, parsed, routes.transport, cors);
        state->busy = false;
        if (!reuse || stopping) break;
        continue;
      }

      core::HttpResponse response;
      {
        Counter inflight(owner.activeRequests_);
        try {
          if (req.method() == bhttp::verb::options) {
            response = preflight(config.app.allowedOrigins, parsed);
          } else {
            response = co_await route(context, hub);
          }
        } catch (const std::exception& e) {
          spdlog::error("{} {} failed: {}", std::string(req.method_string()), path, e.what());
          response = textResponse(500, "Internal Server Error");
        }
      }
      if (response.status >= 400) countRejected(response);
      for (auto& h : cors) response.headers.push_back(h);
      bool keepAlive = req.keep_alive() && !stopping;
      auto writing = writeResponse(stream, serializeResponse(response, req.version(), keepAlive,
                                                             req.method() == bhttp::verb::head));
      auto wec = co_await std::move(writing);
      state->busy = false;
      if (wec || !keepAlive) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<core::HttpResponse> route(const auth::RequestContext& context, HubPath hub) {
    const auto& request = context.request;
    if (hub == HubPath::Negotiate) {
      if (stopping) co_return textResponse(503, "Server is shutting down");
      // The connection keeps the negotiate request's principal for its life.
      co_return transport::negotiate(request, routes.transport.connections,
                                     routes.transport.options, context.principal);
    }
    if (auto r = co_await routes.rest.handle(context)) co_return std::move(*r);
    if (request.method == "GET" || request.method == "HEAD") {
      if (auto f = staticFile(routes.webRoot, request.path)) co_return std::move(*f);
    }
    co_return textResponse(404, "Not Found");
  }

  // With authentication: the answer refusing a hub request, or nullopt to serve it. No
  // valid credential: 401. A connection id negotiated by another user: 403 (ASP.NET
  // Core's answer), so a stolen connection id is useless without that user's token.
  std::optional<core::HttpResponse> hubRefusal(const auth::RequestContext& context) {
    const auto& principal = context.principal;
    if (!principal.authenticated) return api::unauthorized(principal.credentialRejected);
    if (auto id = core::queryValue(context.request.query, "id"); id && !id->empty()) {
      if (auto c = routes.transport.connections.find(*id);
          c && c->principal.userId != principal.userId) {
        auto r = textResponse(403, "Forbidden: the connection belongs to another user");
        r.rejectReason = "forbidden";
        return r;
      }
    }
    return std::nullopt;
  }

  // Decides a WebSocket upgrade: an Ok attach, or the status and text to refuse with.
  // Checks the upgrade request, then attaches it to its connection. A refused upgrade
  // attaches nothing (its answer is in `refusal`), so no connection is set up and undone.
  // `principal` is the upgrade request's: it only matters when negotiation was skipped (a
  // negotiated connection has its negotiate request's principal already).
  transport::Attach attachWebSocket(const bhttp::request<bhttp::string_body>& req,
                                    const auth::Principal& principal,
                                    const asio::any_io_executor& executor,
                                    core::HttpResponse& refusal) {
    auto& connections = routes.transport.connections;
    transport::Attach attach;
    auto refuse = [&](int status, std::string text) {
      refusal = textResponse(status, std::move(text));
      return attach;
    };
    if (stopping) return refuse(503, "Server is shutting down");
    if (!routes.transport.options.webSockets) {
      return refuse(404, "WebSockets are disabled on this server");
    }
    if (req[bhttp::field::sec_websocket_version] != "13") {
      refuse(426, "Unsupported WebSocket version: use 13");
      refusal.headers.emplace_back("Sec-WebSocket-Version", "13");
      return attach;
    }
    if (!protocol::websocket::validClientKey(req[bhttp::field::sec_websocket_key])) {
      return refuse(400, "Missing or malformed Sec-WebSocket-Key");
    }
    auto target = std::string(req.target());
    auto q = target.find('?');
    auto query = q == std::string::npos ? decltype(core::parseQuery("")){}
                                        : core::parseQuery(std::string_view(target).substr(q + 1));
    std::string token;
    if (auto id = core::queryValue(query, "id"); id && !id->empty()) {
      token = *id;
    } else {
      // skipNegotiation: a version-0 connection made on the spot, never stateful.
      token = connections.create(0, principal, false)->token;
    }
    attach = connections.attach(token, transport::TransportKind::WebSockets, executor);
    switch (attach.result) {
      case transport::AttachResult::Ok: break;
      case transport::AttachResult::NotFound: return refuse(404, "No Connection with that ID");
      case transport::AttachResult::Conflict:
        return refuse(409, "Connection already has an active WebSocket");
      case transport::AttachResult::WrongTransport:
        return refuse(400, "Cannot change transports mid-connection");
    }
    return attach;
  }

  HttpServer& owner;
  std::vector<asio::io_context*> contexts;
  const config::Config& config;
  Routes routes;
  tcp::acceptor acceptor;
  std::atomic<bool> stopping{false};
  std::mutex sessionsMutex;
  std::uint64_t nextSessionId = 0;
  std::unordered_map<std::uint64_t, std::pair<asio::any_io_executor, std::weak_ptr<SessionState>>>
      sessions;
};

HttpServer::HttpServer(std::vector<asio::io_context*> contexts, const config::Config& config,
                       Routes routes)
    : impl_(std::make_unique<Impl>(*this, std::move(contexts), config, std::move(routes))) {}

HttpServer::~HttpServer() = default;

void HttpServer::start() {
  auto& ctx = *impl_->contexts.front();
  tcp::resolver resolver(ctx);
  auto results =
      resolver.resolve(impl_->config.server.host, std::to_string(impl_->config.server.port));
  if (results.empty()) throw std::runtime_error("cannot resolve " + impl_->config.server.host);
  auto endpoint = results.begin()->endpoint();
  auto& acc = impl_->acceptor;
  acc.open(endpoint.protocol());
  acc.set_option(tcp::acceptor::reuse_address(true));
  acc.bind(endpoint);
  acc.listen(asio::socket_base::max_listen_connections);
  boundPort_ = acc.local_endpoint().port();
  asio::co_spawn(ctx, impl_->acceptLoop(), asio::detached);
}

void HttpServer::stopAccepting() {
  impl_->stopping = true;
  impl_->closeIdleSessions();
  asio::post(impl_->acceptor.get_executor(), [this] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
  });
}

}  // namespace herald::http
