#include "http/forwarder.h"

#include <array>
#include <optional>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "core/strings.h"
#include "transport/cluster_keys.h"

namespace herald::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
// A live owner accepts at once; a dead one refuses at once or (its host gone) never answers.
// Three seconds tell the client to renegotiate while it still waits.
constexpr auto kConnectTimeout = 3s;
// Writing the request to the owner, and each piece of the answer to the client.
constexpr auto kWriteTimeout = 30s;
constexpr std::size_t kRelayChunk = 16ULL * 1024;

// Headers that describe one hop and must not be passed on (RFC 9110 section 7.6.1), plus
// those this relay sets itself.
bool hopByHop(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
      "trailer",    "upgrade",    "content-length",   "x-herald-forward",  "proxy-authorization"};
  for (auto n : kNames) {
    if (core::iequals(name, n)) return true;
  }
  return false;
}

struct HostPort {
  std::string host;
  std::string port;
};

// http://HOST:PORT (the form config and tokens hold), the brackets of an IPv6 host removed.
std::optional<HostPort> splitUrl(const std::string& url) {
  constexpr std::string_view kPrefix = "http://";
  if (url.rfind(kPrefix, 0) != 0) return std::nullopt;
  auto rest = url.substr(kPrefix.size());
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  HostPort hp{rest.substr(0, colon), rest.substr(colon + 1)};
  if (hp.host.size() > 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  return hp;
}

}  // namespace

std::string forwardedHead(const bhttp::request<bhttp::string_body>& req, std::size_t bodySize,
                          const std::string& guard) {
  std::string head;
  head.reserve(512);
  head.append(req.method_string()).append(" ").append(req.target()).append(" HTTP/1.1\r\n");
  for (const auto& field : req) {
    if (hopByHop(field.name_string())) continue;
    head.append(field.name_string()).append(": ").append(field.value()).append("\r\n");
  }
  head.append(transport::ClusterKeys::kForwardHeader).append(": ").append(guard).append("\r\n");
  head.append("Connection: close\r\nContent-Length: ").append(std::to_string(bodySize));
  head.append("\r\n\r\n");
  return head;
}

namespace {

// Copies the owner's answer to the client until the owner ends it (its Connection: close),
// goes silent for `idle`, or the client stops taking it. Then stops the watch below.
asio::awaitable<void> pumpAnswer(beast::tcp_stream& upstream, beast::tcp_stream& client,
                                 std::chrono::seconds idle, bool& relayed) {
  std::vector<char> chunk(kRelayChunk);
  for (;;) {
    upstream.expires_after(idle);
    auto [rec, n] = co_await upstream.async_read_some(asio::buffer(chunk), use_nothrow);
    if (n > 0) {
      relayed = true;
      client.expires_after(kWriteTimeout);
      auto [wec, wn] =
          co_await asio::async_write(client, asio::buffer(chunk.data(), n), use_nothrow);
      if (wec) break;
    }
    if (rec) break;
  }
  boost::system::error_code ignored;
  client.socket().cancel(ignored);  // ends watchClient's read
}

// A client that leaves (an SSE stream closed, a poll given up) closes the owner's connection
// at once, so the owner lets go of it now rather than at its next keep-alive write. A client
// sends nothing while it waits for its answer: anything it does send ends the relay too.
asio::awaitable<void> watchClient(beast::tcp_stream& client, beast::tcp_stream& upstream,
                                  bool& clientLeft) {
  char byte = 0;
  auto [ec, n] = co_await client.socket().async_read_some(asio::buffer(&byte, 1), use_nothrow);
  if (ec == asio::error::operation_aborted) co_return;  // the answer is complete
  clientLeft = true;
  boost::system::error_code ignored;
  upstream.socket().close(ignored);  // ends pumpAnswer's read
}

}  // namespace

asio::awaitable<ForwardOutcome> forwardToOwner(beast::tcp_stream& client, ForwardRequest forward) {
  auto target = splitUrl(forward.ownerUrl);
  if (!target) co_return ForwardOutcome::OwnerUnreachable;
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [rec, endpoints] = co_await resolver.async_resolve(target->host, target->port, use_nothrow);
  if (rec) {
    spdlog::debug("forward to {}: {}", forward.ownerUrl, rec.message());
    co_return ForwardOutcome::OwnerUnreachable;
  }
  beast::tcp_stream upstream(executor);
  upstream.expires_after(kConnectTimeout);
  auto [cec, endpoint] = co_await upstream.async_connect(endpoints, use_nothrow);
  if (cec) {
    spdlog::debug("forward to {}: {}", forward.ownerUrl, cec.message());
    co_return ForwardOutcome::OwnerUnreachable;
  }
  boost::system::error_code ignored;
  upstream.socket().set_option(tcp::no_delay(true), ignored);
  const auto head = forwardedHead(forward.request, forward.body.size(), forward.guard);
  std::array<asio::const_buffer, 2> request{asio::buffer(head), asio::buffer(forward.body)};
  upstream.expires_after(kWriteTimeout);
  auto [wec, wn] = co_await asio::async_write(upstream, request, use_nothrow);
  if (wec) co_return ForwardOutcome::OwnerUnreachable;

  // The owner answers with Connection: close, so its answer ends with its connection: the
  // bytes are relayed unchanged, whatever their framing (a long poll's Content-Length, an
  // SSE stream that lasts until either side leaves). Both halves end before this returns
  // (each stops the other), so neither outlives the streams it uses.
  bool relayed = false;
  bool clientLeft = false;
  auto pumping = pumpAnswer(upstream, client, forward.idle, relayed);
  auto watching = watchClient(client, upstream, clientLeft);
  auto both = std::move(pumping) || std::move(watching);
  co_await std::move(both);
  upstream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  upstream.socket().close(ignored);
  if (relayed) co_return ForwardOutcome::Relayed;
  // An owner that died before a byte of its answer is as gone as one that refused.
  co_return clientLeft ? ForwardOutcome::ClientLeft : ForwardOutcome::OwnerUnreachable;
}

}  // namespace herald::http
