#include "http/http_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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
#include "http/cross_site.h"
#include "http/forwarded_for.h"
#include "http/forwarder.h"
#include "limits/client_key.h"
#include "limits/connection_limits.h"
#include "limits/rate_limiter.h"
#include "protocol/websocket/accept_key.h"
#include "transport/adoption.h"
#include "transport/cluster_keys.h"
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
// Static files up to this size are read whole and sent in one write; larger ones are
// streamed in chunks of kFileChunkBytes (streamFile).
constexpr std::uintmax_t kInlineFileBytes = 256ULL * 1024;
constexpr std::size_t kFileChunkBytes = 64ULL * 1024;

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
// stays as it is). Most paths have no escape at all and are copied in one go. An encoded
// slash (%2F) stays encoded, as in ASP.NET Core: it is data inside a segment, never a
// separator, so `/api/v1/jobs/a%2Fb/progress` cannot be routed as `/jobs/a/b/progress`
// and a static file name cannot reach into a folder.
std::string decodePath(std::string_view target) {
  auto raw = target.substr(0, target.find('?'));
  if (raw.find('%') == std::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    int hi = 0, lo = 0;
    if (raw[i] == '%' && i + 2 < raw.size() && (hi = hexValue(raw[i + 1])) >= 0 &&
        (lo = hexValue(raw[i + 2])) >= 0 && hi * 16 + lo != '/') {
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

// The status line and headers of a response whose body is `contentLength` bytes.
// Written by hand: Beast's serializer and composed write cost ~23k instructions per
// answer, a third of the HTTP work of a progress report. The header values are the
// server's own (and a request's Origin, which the parser already checked), so there is
// nothing to escape. Every answer says nosniff: a browser must not guess a script or a
// page out of a JSON error or a downloaded file.
void serializeHead(const core::HttpResponse& res, unsigned version, bool keepAlive,
                   std::uint64_t contentLength, std::string& out) {
  const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
  out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.status);
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\nServer: Herald\r\nX-Content-Type-Options: nosniff\r\n";
  if (!res.contentType.empty()) out.append("Content-Type: ").append(res.contentType).append("\r\n");
  for (const auto& [k, v] : res.headers) out.append(k).append(": ").append(v).append("\r\n");
  if (version == 10 && keepAlive) out += "Connection: keep-alive\r\n";
  if (version != 10 && !keepAlive) out += "Connection: close\r\n";
  out.append("Content-Length: ").append(std::to_string(contentLength)).append("\r\n\r\n");
}

// The bytes of a whole response.
std::string serializeResponse(const core::HttpResponse& res, unsigned version, bool keepAlive,
                              bool head) {
  std::string out;
  out.reserve(190 + res.body.size() + res.headers.size() * 48);
  serializeHead(res, version, keepAlive, res.body.size(), out);
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

// Transfer-Encoding other than exactly `chunked` (RFC 9112 section 6.1: a server that
// receives a transfer coding it does not understand answers 501): Beast decodes the
// chunked framing of `gzip, chunked` and hands over the body still compressed, as if it
// were plain. A refusal, or nothing when the framing is fine.
std::optional<core::HttpResponse> refuseFraming(const bhttp::request<bhttp::string_body>& req) {
  int codings = 0;
  bool onlyChunked = true;
  for (const auto& field : req) {
    if (field.name() != bhttp::field::transfer_encoding) continue;
    std::string_view rest = field.value();
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      auto coding = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!coding.empty() && (coding.front() == ' ' || coding.front() == '\t'))
        coding.remove_prefix(1);
      while (!coding.empty() && (coding.back() == ' ' || coding.back() == '\t'))
        coding.remove_suffix(1);
      if (coding.empty()) continue;
      ++codings;
      if (!core::iequals(coding, "chunked")) onlyChunked = false;
    }
  }
  if (codings == 0 || (codings == 1 && onlyChunked)) return std::nullopt;
  core::HttpResponse r;
  r.status = 501;
  r.contentType = "text/plain; charset=utf-8";
  r.body = "Unsupported Transfer-Encoding: only chunked is accepted";
  r.rejectReason = "unsupported_transfer_encoding";
  return r;
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

// Who a request comes from: the client's address as the limits key it (limits::ipKey),
// and the per-user key of an anonymous caller there. Worked out once per TCP connection,
// or per request behind a trusted proxy (forwarded_for.h), whose connection carries
// requests of many clients.
struct Peer {
  std::string ipKey;
  std::string anonymousKey;
};

Peer peerAt(const std::string& address) {
  Peer peer;
  peer.ipKey = limits::ipKey(address);
  peer.anonymousKey = limits::callerKey("", peer.ipKey);
  return peer;
}

// Every X-Forwarded-For field of `req`, joined in order (a proxy may add a field of its
// own rather than append to the one it got), or nullopt when there is none.
std::optional<std::string> forwardedFor(const bhttp::request<bhttp::string_body>& req) {
  std::optional<std::string> joined;
  for (const auto& field : req) {
    if (!core::iequals(field.name_string(), "x-forwarded-for")) continue;
    if (joined) {
      joined->append(",").append(field.value());
    } else {
      joined.emplace(field.value());
    }
  }
  return joined;
}

// A limit's refusal on the hub paths: plain text (what SignalR clients show), 429 (or 503
// when the whole server is full) with Retry-After.
core::HttpResponse limitResponse(int status, long long retryAfter, const char* reason,
                                 std::string text) {
  auto r = textResponse(status, std::move(text));
  r.headers.emplace_back("Retry-After", std::to_string(retryAfter));
  r.rejectReason = reason;
  return r;
}

bool isRestPath(std::string_view path) {
  return path.size() >= 5 && core::iequals(path.substr(0, 5), "/api/");
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
  core::HttpResponse res;
  res.contentType = mimeType(full);
  const auto size = fs::file_size(full, ec);
  if (ec) return std::nullopt;
  if (size > kInlineFileBytes) {
    res.bodyFile = full.string();  // streamed by the session (streamFile)
    return res;
  }
  std::ifstream in(full, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  res.body = ss.str();
  return res;
}

// Sends `res` with the file `res.bodyFile` as its body, one chunk at a time: each chunk
// is read only once the previous one is in the socket, so a client that reads slowly (or
// not at all) holds one chunk of memory, and the I/O thread reads the disk in small steps
// between other work (the attack run of issue 12: 8 non-reading downloads of a 200 MB file
// held 2.3 GB, read whole on the I/O thread). A client that takes nothing for
// kRequestTimeout is dropped. The length is the open file's, so a file that changes
// meanwhile cannot make the body disagree with its Content-Length: a short read ends the
// connection instead.
asio::awaitable<boost::system::error_code> streamFile(beast::tcp_stream& stream,
                                                      core::HttpResponse res, unsigned version,
                                                      bool keepAlive, bool head) {
  const int fd = ::open(res.bodyFile.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0) ::close(fd);
    core::HttpResponse missing;
    missing.status = 404;
    missing.contentType = "text/plain; charset=utf-8";
    missing.body = "Not Found";
    co_return co_await writeResponse(stream, serializeResponse(missing, version, keepAlive, head));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::string header;
  serializeHead(res, version, keepAlive, static_cast<std::uint64_t>(st.st_size), header);
  auto ec = co_await writeResponse(stream, std::move(header));
  if (ec || head) co_return ec;
  std::vector<char> chunk(kFileChunkBytes);
  auto left = static_cast<std::uint64_t>(st.st_size);
  off_t offset = 0;
  while (left > 0) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    const auto n = ::pread(fd, chunk.data(), want, offset);
    if (n <= 0) co_return asio::error::make_error_code(asio::error::eof);  // shrank: give up
    stream.expires_after(kRequestTimeout);
    auto [wec, written] = co_await asio::async_write(
        stream, asio::buffer(chunk.data(), static_cast<std::size_t>(n)), use_nothrow);
    if (wec) co_return wec;
    offset += n;
    left -= static_cast<std::uint64_t>(n);
  }
  co_return ec;
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServer& owner, std::vector<asio::io_context*> contexts, const config::Config& config,
       Routes routes)
      : owner(owner),
        contexts(std::move(contexts)),
        config(config),
        routes(std::move(routes)),
        acceptor(*this->contexts.front()),
        connectionLimits(
            limits::ConnectionLimits::create({.maxTotal = config.limits.maxConnections,
                                              .maxPerIp = config.limits.maxConnectionsPerIp,
                                              .maxPerUser = config.limits.maxConnectionsPerUser})),
        negotiateLimiter(config.limits.negotiatesPerIpPerSecond, config.limits.negotiateBurstPerIp),
        restLimiter(config.limits.restRequestsPerUserPerSecond, config.limits.restBurstPerUser),
        trustedProxies(config.app.trustedProxies) {}

  // A new hub connection (a negotiate, or a WebSocket that skips it): the negotiate rate
  // of its address, then the connection counts. Admitted: nullopt, and `lease` holds its
  // place. Refused: the answer, already counted by reason when sent.
  std::optional<core::HttpResponse> admitConnection(const Peer& peer,
                                                    const auth::Principal& principal,
                                                    limits::ConnectionLease& lease) {
    if (auto d = negotiateLimiter.take(peer.ipKey); !d.allowed) {
      return limitResponse(429, limits::retryAfterSeconds(d.retryAfter), "limit_negotiates_per_ip",
                           "Too many connection attempts from this address "
                           "(Limits:NegotiatesPerIpPerSecond). Retry later.");
    }
    return admitCounts(peer, principal, lease);
  }

  // The connection counts alone: a connection negotiated on another node that connects
  // here takes a place on this node (its negotiate was rate-limited where it happened).
  std::optional<core::HttpResponse> admitCounts(const Peer& peer, const auth::Principal& principal,
                                                limits::ConnectionLease& lease) {
    auto admission = connectionLimits->admit(peer.ipKey, principal.userId);
    switch (admission.refusal) {
      case limits::ConnectionRefusal::None: lease = std::move(admission.lease); return std::nullopt;
      case limits::ConnectionRefusal::Total:
        return limitResponse(503, 5, "limit_connections",
                             "The server has as many connections as it accepts "
                             "(Limits:MaxConnections). Retry later.");
      case limits::ConnectionRefusal::PerIp:
        return limitResponse(429, 5, "limit_connections_per_ip",
                             "Too many connections from this address "
                             "(Limits:MaxConnectionsPerIp). Close some first.");
      case limits::ConnectionRefusal::PerUser:
        return limitResponse(429, 5, "limit_connections_per_user",
                             "Too many connections for this user (Limits:MaxConnectionsPerUser). "
                             "Close some first.");
    }
    return std::nullopt;
  }

  // Limits:RestRequestsPerUserPerSecond, for requests under /api/. The answer when refused.
  std::optional<core::HttpResponse> admitRest(const Peer& peer, const auth::Principal& principal) {
    if (!restLimiter.enabled()) return std::nullopt;
    auto d = principal.userId.empty()
                 ? restLimiter.take(peer.anonymousKey)
                 : restLimiter.take(limits::callerKey(principal.userId, peer.ipKey));
    if (d.allowed) return std::nullopt;
    auto r = api::problem(429, api::kRestRateLimitDetail);
    r.headers.emplace_back("Retry-After", std::to_string(limits::retryAfterSeconds(d.retryAfter)));
    r.rejectReason = "limit_rest_requests";
    return r;
  }

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
    const Peer peer = peerAt(remoteAddress);
    const bool fromProxy = !trustedProxies.empty() && trustedProxies.trusts(remote.address());
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
      if (auto refusal = refuseFraming(req)) {
        // The body's framing is in doubt: answer and close, reading nothing more.
        metrics::rejected(refusal->rejectReason);
        auto writing = writeResponse(stream, serializeResponse(*refusal, 11, false, false));
        co_await std::move(writing);
        break;
      }
      auto path = decodePath(req.target());
      if (path.find('\0') != std::string::npos) {
        // A NUL would end the name at the system call: `/page.html%00.png` opened the page.
        auto refusal = textResponse(400, "Malformed request path");
        metrics::rejected("bad_path");
        auto writing = writeResponse(
            stream,
            serializeResponse(refusal, req.version(), req.keep_alive() && !stopping, false));
        if (co_await std::move(writing) || !req.keep_alive() || stopping) break;
        continue;
      }
      state->busy = true;
      const auto hub = hubPath(path);
      // The client: the peer, or behind a trusted proxy the client it names for this
      // request. Limits, logs and the request itself see the client.
      Peer forwardedPeer;
      std::string forwardedAddress;
      const Peer* client = &peer;
      const std::string* clientAddress = &remoteAddress;
      if (fromProxy) {
        if (auto header = forwardedFor(req)) {
          forwardedAddress = trustedProxies.clientAddress(remote.address(), *header).to_string();
          forwardedPeer = peerAt(forwardedAddress);
          client = &forwardedPeer;
          clientAddress = &forwardedAddress;
        }
      }
      // The request context: the request and its principal, worked out here and only here.
      auth::RequestContext context{toCore(req, path, *clientAddress), {}};
      if (auto refusal = refuseCrossSite(context.request, hub, beast::websocket::is_upgrade(req))) {
        auto sending = sendRefusal(stream, req, context.request, std::move(*refusal));
        const bool reuse = co_await std::move(sending);
        state->busy = false;
        if (!reuse) break;
        continue;
      }
      context.principal = routes.authenticator.authenticate(context.request);

      // With authentication, every request to the hub (negotiate, WebSocket upgrade, SSE,
      // long polls and sends) needs a valid credential, and one of the same user as the
      // connection it names; the REST routes check theirs in the router.
      if (hub != HubPath::None && config.app.enableAuth && req.method() != bhttp::verb::options) {
        if (auto refusal = hubRefusal(context)) {
          auto sending = sendRefusal(stream, req, context.request, std::move(*refusal));
          const bool reuse = co_await std::move(sending);
          state->busy = false;
          if (!reuse) break;
          continue;
        }
      }

      if (beast::websocket::is_upgrade(req) && hub == HubPath::Hub) {
        // The WebSocket runs in its own coroutine so that this session's frame (parse
        // buffer, stream wrapper) is freed: it would otherwise live as long as the socket.
        core::HttpResponse refusal;
        std::string token;
        auto attach =
            attachWebSocket(req, context.principal, *client, stream.get_executor(), refusal, token);
        if (attach.result == transport::AttachResult::Ok && attach.reattach &&
            routes.transport.services.mirror) {
          // Mirrored: another node may have adopted the connection since its last socket
          // here. Then this copy is stale: it goes, and the session is adopted afresh.
          auto checking = transport::stillOwned(attach.connection);
          if (!co_await std::move(checking)) {
            spdlog::info("connection {}: adopted elsewhere since; taking it back",
                         attach.connection->connectionId);
            routes.transport.connections.dispose(attach.connection);
            attach = transport::Attach{};
          }
        }
        if (attach.result == transport::AttachResult::NotFound && !token.empty() &&
            routes.transport.services.mirror && !stopping) {
          // Unknown here: a stateful connection whose node died may be reattaching.
          auto adopting = transport::adoptConnection(
              token, context.principal, config.app.enableAuth, stream.get_executor(),
              routes.transport.connections, routes.transport.services);
          auto adopted = co_await std::move(adopting);
          if (adopted.result == transport::AttachResult::Ok) attach = std::move(adopted);
        }
        if (attach.result == transport::AttachResult::NotFound && refusal.status == 404 &&
            routes.transport.options.webSockets && !stopping) {
          // A valid upgrade whose token is unknown here and not adoptable (the only 404 left
          // once WebSockets are on): in a cluster, one negotiated on another node.
          attach = attachFromPeer(req, context.principal, *client, stream.get_executor(), refusal);
        }
        if (attach.result != transport::AttachResult::Ok) {
          if (refusal.rejectReason) metrics::rejected(refusal.rejectReason);
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
      const auto* cluster = routes.transport.connections.cluster();
      // Which node answered: balancer logs and tests tell the nodes apart by it.
      if (cluster) cors.emplace_back("X-Herald-Node", cluster->nodeId());
      if (hub == HubPath::Hub && req.method() != bhttp::verb::options) {
        Counter inflight(owner.activeRequests_);
        if (cluster) {
          // Only a node can make a request look forwarded; one forwarded already is served
          // here whatever happens.
          const auto guard =
              cluster->checkForwardHeader(parsed.header("x-herald-forward"), req.method_string(),
                                          req.target(), transport::ClusterKeys::unixNow());
          if (guard == transport::ForwardGuard::Invalid) {
            auto refusal = textResponse(403, "Forbidden: invalid X-Herald-Forward header");
            refusal.rejectReason = "invalid_forward_guard";
            countRejected(refusal);
            auto writing =
                writeResponse(stream, serializeResponse(refusal, req.version(), false, false));
            co_await std::move(writing);
            break;
          }
          if (guard == transport::ForwardGuard::Absent) {
            if (auto ownerUrl = forwardTarget(context)) {
              auto forwarding = relayToOwner(stream, req, parsed, *ownerUrl, cors);
              co_await std::move(forwarding);
              break;
            }
          }
        }
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
            response = co_await route(context, hub, *client);
          }
        } catch (const std::exception& e) {
          spdlog::error("{} {} from {} failed: {}", std::string(req.method_string()), path,
                        *clientAddress, e.what());
          response = textResponse(500, "Internal Server Error");
        }
      }
      if (response.status >= 400) countRejected(response);
      for (auto& h : cors) response.headers.push_back(h);
      bool keepAlive = req.keep_alive() && !stopping;
      boost::system::error_code wec;
      if (!response.bodyFile.empty()) {
        auto streaming = streamFile(stream, std::move(response), req.version(), keepAlive,
                                    req.method() == bhttp::verb::head);
        wec = co_await std::move(streaming);
      } else {
        auto writing = writeResponse(stream, serializeResponse(response, req.version(), keepAlive,
                                                               req.method() == bhttp::verb::head));
        wec = co_await std::move(writing);
      }
      state->busy = false;
      if (wec || !keepAlive) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  // Sends a refusal decided before routing (the cross-site checks, the hub's
  // authentication): counted by its reason, with the CORS headers a page needs to read
  // it. The connection stays for the next request unless the refused one asked for a
  // WebSocket upgrade (what follows it on the socket is not HTTP) or the server is
  // stopping. Returns whether the session may read another request.
  asio::awaitable<bool> sendRefusal(beast::tcp_stream& stream,
                                    const bhttp::request<bhttp::string_body>& req,
                                    const core::HttpRequest& request, core::HttpResponse refusal) {
    countRejected(refusal);
    for (auto& h : corsHeaders(config.app.allowedOrigins, request)) refusal.headers.push_back(h);
    const bool keepAlive = req.keep_alive() && !stopping && !beast::websocket::is_upgrade(req);
    auto writing =
        writeResponse(stream, serializeResponse(refusal, req.version(), keepAlive, false));
    const auto ec = co_await std::move(writing);
    co_return !ec && keepAlive;
  }

  // The cross-site defences (http/cross_site.h), before anything acts on the request: a
  // Host this server does not answer to, an Origin it does not trust on a hub request or
  // a REST write, a REST write whose body is not JSON. A refusal, or nothing.
  std::optional<core::HttpResponse> refuseCrossSite(const core::HttpRequest& request, HubPath hub,
                                                    bool upgrade) const {
    const bool api = request.path.size() >= 5 && core::iequals(request.path.substr(0, 5), "/api/");
    auto refuse = [&](int status, std::string_view text, const char* reason) {
      auto r = api ? api::problem(status, text) : textResponse(status, std::string(text));
      r.rejectReason = reason;
      return r;
    };
    if (auto host = request.header("host");
        host && !host->empty() && !hostAllowed(config.app.allowedHosts, *host)) {
      return refuse(400, "Invalid Host header: not in AppSettings:AllowedHosts",
                    "host_not_allowed");
    }
    if (request.method == "OPTIONS") return std::nullopt;  // preflights: CORS decides
    const bool hubRequest = hub != HubPath::None || upgrade;
    const bool restWrite = api && isStateChanging(request.method);
    if ((hubRequest || restWrite) && !originAllowed(config.app.allowedOrigins, request)) {
      return refuse(403,
                    "Origin not allowed: not this server's and not in AppSettings:AllowedOrigins",
                    "origin_not_allowed");
    }
    if (restWrite && !jsonBodyType(request)) {
      return refuse(415, "Content-Type must be application/json", "unsupported_media_type");
    }
    return std::nullopt;
  }

  asio::awaitable<core::HttpResponse> route(const auth::RequestContext& context, HubPath hub,
                                            const Peer& peer) {
    const auto& request = context.request;
    if (hub == HubPath::Negotiate) {
      if (stopping) co_return textResponse(503, "Server is shutting down");
      limits::ConnectionLease lease;
      if (request.method == "POST") {
        if (auto refusal = admitConnection(peer, context.principal, lease)) {
          co_return std::move(*refusal);
        }
      }
      // The connection keeps the negotiate request's principal for its life.
      co_return transport::negotiate(request, routes.transport.connections,
                                     routes.transport.options, context.principal, std::move(lease));
    }
    if (isRestPath(request.path)) {
      if (auto refusal = admitRest(peer, context.principal)) co_return std::move(*refusal);
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
                                    const auth::Principal& principal, const Peer& peer,
                                    const asio::any_io_executor& executor,
                                    core::HttpResponse& refusal, std::string& reattachToken) {
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
      reattachToken = token;
    } else {
      // skipNegotiation: a version-0 connection made on the spot, never stateful. It is
      // a new connection as a negotiate's is, and admitted the same way.
      limits::ConnectionLease lease;
      if (auto limited = admitConnection(peer, principal, lease)) {
        refusal = std::move(*limited);
        return attach;
      }
      token = connections.create(0, principal, false, std::move(lease))->token;
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

  // A checked upgrade (attachWebSocket) whose token this node does not know. In a cluster, a
  // token negotiated on another node: the connection is made here, under the token's ids, with
  // the upgrade request's principal (the token's MAC covers the negotiating user, so another
  // user's request does not verify), and attached. Only while the token is fresh
  // (SignalR:DisconnectTimeout): later the negotiate is as stale as an unconnected one is on
  // its own node. A token that does not verify, or one of this node's own (it is gone), keeps
  // the 404 `refusal` already holds; the connection counts may refuse too.
  transport::Attach attachFromPeer(const bhttp::request<bhttp::string_body>& req,
                                   const auth::Principal& principal, const Peer& peer,
                                   const asio::any_io_executor& executor,
                                   core::HttpResponse& refusal) {
    auto& connections = routes.transport.connections;
    const auto* cluster = connections.cluster();
    transport::Attach attach;
    if (!cluster) return attach;
    auto target = std::string(req.target());
    auto q = target.find('?');
    if (q == std::string::npos) return attach;
    auto token = core::queryValue(core::parseQuery(std::string_view(target).substr(q + 1)), "id");
    if (!token || token->empty()) return attach;
    auto claims = cluster->verifyToken(*token, principal.userId);
    if (!claims || claims->nodeUrl == cluster->nodeUrl() ||
        transport::ClusterKeys::expired(*claims, transport::ClusterKeys::unixNow())) {
      return attach;
    }
    limits::ConnectionLease lease;
    if (auto limited = admitCounts(peer, principal, lease)) {
      refusal = std::move(*limited);
      return attach;
    }
    connections.createFromPeer(*claims, *token, principal, std::move(lease));
    metrics::clusterEvent("websocket_from_peer");
    attach = connections.attach(*token, transport::TransportKind::WebSockets, executor);
    if (attach.result == transport::AttachResult::Conflict) {
      refusal = textResponse(409, "Connection already has an active WebSocket");
    }
    return attach;
  }

  // A hub request (not an upgrade) of a connection this node does not hold, in a cluster: the
  // owner's URL when the request should be forwarded there, else nullopt (served here, where
  // an unknown connection gets 404). A request that was forwarded already is never forwarded
  // again.
  std::optional<std::string> forwardTarget(const auth::RequestContext& context) const {
    const auto* cluster = routes.transport.connections.cluster();
    if (!cluster) return std::nullopt;
    auto id = core::queryValue(context.request.query, "id");
    if (!id || id->empty() || routes.transport.connections.find(*id)) return std::nullopt;
    auto claims = cluster->verifyToken(*id, context.principal.userId);
    if (!claims || !cluster->forwardable(*claims)) return std::nullopt;
    return std::move(claims->nodeUrl);
  }

  // Relays a hub request to its connection's owner (http/forwarder.h); 404 when the owner
  // is gone, so the client renegotiates. The client connection closes afterwards.
  asio::awaitable<void> relayToOwner(
      beast::tcp_stream& stream, const bhttp::request<bhttp::string_body>& req,
      const core::HttpRequest& parsed, const std::string& ownerUrl,
      const std::vector<std::pair<std::string, std::string>>& extra) {
    const auto* cluster = routes.transport.connections.cluster();
    const auto idle = std::max(config.signalr.longPollTimeout, config.signalr.keepAliveInterval) +
                      std::chrono::seconds(30);
    ForwardRequest request{req, parsed.body, ownerUrl,
                           cluster->forwardHeader(req.method_string(), req.target(),
                                                  transport::ClusterKeys::unixNow()),
                           idle};
    auto relaying = forwardToOwner(stream, std::move(request));
    const auto outcome = co_await std::move(relaying);
    if (outcome != ForwardOutcome::OwnerUnreachable) {
      metrics::clusterEvent("forwarded");
      co_return;
    }
    metrics::clusterEvent("owner_unreachable");
    spdlog::debug("{} {}: the connection's owner {} is unreachable", parsed.method, parsed.path,
                  ownerUrl);
    auto gone = textResponse(404, "No Connection with that ID");
    for (const auto& h : extra) gone.headers.push_back(h);
    countRejected(gone);
    auto writing = writeResponse(stream, serializeResponse(gone, req.version(), false, false));
    co_await std::move(writing);
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
  // Shared: a connection's lease outlives this server (the ConnectionManager does).
  std::shared_ptr<limits::ConnectionLimits> connectionLimits;
  limits::RateLimiter negotiateLimiter;
  limits::RateLimiter restLimiter;
  TrustedProxies trustedProxies;
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
