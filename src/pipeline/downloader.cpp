#include "pipeline/downloader.h"

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "core/address_policy.h"
#include "core/strings.h"
#include "jobs/processor.h"
#include "pipeline/errors.h"

namespace herald::pipeline {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace ip = asio::ip;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

// Running out of file descriptors (this process or the system) passes once other work
// closes its files: a reason to try again later, not to fail the ingest for good.
bool isFdShortage(int err) { return err == EMFILE || err == ENFILE; }

struct Target {
  bool tls = false;
  std::string host;        // name, or the address without brackets
  std::string hostHeader;  // Host: name[:port], IPv6 in brackets
  unsigned short port = 0;
  std::string resource;
  std::optional<ip::address> literal;  // the host is an IP address
};

Target parseTarget(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) throw MediaError("not a valid URL: " + url);
  Target t;
  auto scheme = core::toLower(u->scheme());
  if (scheme == "https")
    t.tls = true;
  else if (scheme != "http")
    throw MediaError("unsupported URL scheme: " + scheme);
  switch (u->host_type()) {
    case boost::urls::host_type::ipv4:
      t.literal = ip::address_v4(u->host_ipv4_address().to_uint());
      t.host = t.literal->to_string();
      break;
    case boost::urls::host_type::ipv6:
      t.literal = ip::address_v6(u->host_ipv6_address().to_bytes());
      t.host = t.literal->to_string();
      break;
    case boost::urls::host_type::name:
      t.host = u->host();
      // Legacy numeric forms ("2130706433") that the system resolver would read as an
      // address are one, for the policy.
      t.literal = core::numericHost(t.host);
      break;
    default: throw MediaError("URL has no usable host: " + url);
  }
  if (t.host.empty()) throw MediaError("URL has no host: " + url);
  const unsigned short defaultPort = t.tls ? 443 : 80;
  t.port = defaultPort;
  if (u->has_port()) {
    t.port = u->port_number();
    if (t.port == 0) throw MediaError("URL has an invalid port: " + url);
  }
  t.hostHeader = std::string(u->encoded_host_and_port());
  if (!u->has_port() || t.port == defaultPort) t.hostHeader = std::string(u->encoded_host());
  t.resource = std::string(u->encoded_target());
  if (t.resource.empty()) t.resource = "/";
  return t;
}

std::string refusal(const Target& t, const ip::address& a, core::AddressKind kind) {
  std::string what = t.literal ? "" : "it resolves to " + a.to_string() + ", ";
  return "refusing to download from " + t.host + ": " + what + "a " +
         std::string(core::describe(kind)) + " address (AppSettings:AllowPrivateNetworkDownloads)";
}

// Resolves the target once and checks every address; the connection is then made to
// exactly these endpoints, never to a second lookup's answer.
asio::awaitable<std::vector<tcp::endpoint>> checkedEndpoints(const Target& t,
                                                             const DownloadOptions& options) {
  std::vector<ip::address> addresses;
  if (t.literal) {
    addresses.push_back(*t.literal);
  } else if (options.refusePrivateAddresses && core::isLocalhostName(t.host)) {
    throw DownloadRefused("refusing to download from " + t.host +
                          ": a loopback name (AppSettings:AllowPrivateNetworkDownloads)");
  } else if (options.simulatedHosts) {
    auto it = options.simulatedHosts->find(core::toLower(t.host));
    if (it == options.simulatedHosts->end() || !core::numericHost(it->second)) {
      throw MediaError("cannot resolve " + t.host + " (Pipeline:TestResolverHosts)");
    }
    addresses.push_back(*core::numericHost(it->second));
  } else {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    auto [rec, results] =
        co_await resolver.async_resolve(t.host, std::to_string(t.port), use_nothrow);
    if (rec) throw DownloadUnavailable("cannot resolve " + t.host + ": " + rec.message());
    for (const auto& r : results) addresses.push_back(r.endpoint().address());
  }
  if (options.refusePrivateAddresses) {
    // One refused address refuses the host: a name that answers both public and private
    // addresses is either misconfigured or probing.
    for (const auto& a : addresses) {
      auto kind = core::classifyAddress(a);
      if (kind != core::AddressKind::Public) throw DownloadRefused(refusal(t, a, kind));
    }
  }
  std::vector<tcp::endpoint> endpoints;
  if (options.simulatedHosts) {
    endpoints.emplace_back(ip::address_v4::loopback(), t.port);
  } else {
    for (const auto& a : addresses) endpoints.emplace_back(a, t.port);
  }
  co_return endpoints;
}

// Outcome of one request: done, or a redirect to follow.
struct Hop {
  std::string redirect;
};

[[noreturn]] void tooLarge(const DownloadOptions& options) {
  throw MediaError("the media is larger than the allowed " + std::to_string(options.maxBytes) +
                   " bytes (Pipeline:MaxDownloadBytes)");
}

template <class Stream>
asio::awaitable<Hop> fetch(Stream& stream, const Target& t, const std::string& path,
                           const DownloadOptions& options) {
  http::request<http::empty_body> req{http::verb::get, t.resource, 11};
  req.set(http::field::host, t.hostHeader);
  req.set(http::field::user_agent, "Herald");
  auto [wec, wn] = co_await http::async_write(stream, req, use_nothrow);
  if (wec)
    throw DownloadUnavailable("sending the request to " + t.host + " failed: " + wec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(options.maxBytes);
  auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
  // The parser checks Content-Length against the limit with the header: too large is
  // the media's fault and will not change on a retry.
  if (hec == http::error::body_limit) tooLarge(options);
  if (hec)
    throw DownloadUnavailable("reading the response from " + t.host + " failed: " + hec.message());
  auto status = parser.get().result_int();
  if (status >= 300 && status < 400) {
    auto location = parser.get()[http::field::location];
    if (location.empty()) throw MediaError("redirect without a Location from " + t.host);
    co_return Hop{std::string(location)};
  }
  if (status >= 500 || status == 429 || status == 408) {
    throw DownloadUnavailable("the server answered " + std::to_string(status));
  }
  if (status != 200)
    throw MediaError("the server answered " + std::to_string(status) + " for the media URL");
  std::size_t expected = 0;
  if (auto len = parser.content_length()) expected = static_cast<std::size_t>(*len);
  if (expected > options.maxBytes) tooLarge(options);

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    const int err = errno;
    if (isFdShortage(err)) {
      throw DownloadUnavailable("cannot open " + path + ": " +
                                std::generic_category().message(err));
    }
    throw std::runtime_error("cannot write " + path + ": " + std::generic_category().message(err));
  }
  std::array<char, 64 * 1024> chunk;
  std::size_t total = 0;
  while (!parser.is_done()) {
    if (options.cancel && *options.cancel) throw Cancelled();
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (rec && rec != http::error::need_buffer) {
      if (rec == http::error::body_limit) tooLarge(options);
      throw DownloadUnavailable("the download from " + t.host + " broke off: " + rec.message());
    }
    auto got = chunk.size() - parser.get().body().size;
    out.write(chunk.data(), static_cast<std::streamsize>(got));
    total += got;
    if (options.onProgress) {
      options.onProgress(
          expected ? static_cast<double>(total) / static_cast<double>(expected) : -1.0, total);
    }
  }
  if (!out) throw std::runtime_error("writing " + path + " failed");
  co_return Hop{};
}

// The absolute URL a Location header points to: relative references ("next.mp4",
// "../b", "//host/x", "?q") resolve against the URL that answered (RFC 3986 section 5).
std::string followRedirect(const std::string& current, const std::string& location) {
  auto base = boost::urls::parse_uri(current);
  auto ref = boost::urls::parse_uri_reference(location);
  if (!base || !ref) throw MediaError("the server redirected to an invalid URL: " + location);
  boost::urls::url dest;
  if (!boost::urls::resolve(*base, *ref, dest)) {
    throw MediaError("the server redirected to an invalid URL: " + location);
  }
  dest.remove_fragment();
  return std::string(dest.buffer());
}

asio::awaitable<void> download(std::string url, std::string path, const DownloadOptions& options) {
  auto executor = co_await asio::this_coro::executor;
  for (int hop = 0; hop <= options.maxRedirects; ++hop) {
    auto t = parseTarget(url);
    auto endpoints = co_await checkedEndpoints(t, options);
    beast::tcp_stream tcpStream(executor);
    auto [cec, ep] = co_await tcpStream.async_connect(endpoints, use_nothrow);
    if (cec) {
      throw DownloadUnavailable("cannot connect to " + t.host + ":" + std::to_string(t.port) +
                                ": " + cec.message());
    }
    // The peer is one of the checked endpoints by construction; checked again so a
    // future change to the connect path cannot quietly bypass the policy.
    if (options.refusePrivateAddresses && !options.simulatedHosts) {
      auto kind = core::classifyAddress(ep.address());
      if (kind != core::AddressKind::Public) throw DownloadRefused(refusal(t, ep.address(), kind));
    }
    Hop next;
    if (t.tls) {
      ssl::context ctx(ssl::context::tls_client);
      ctx.set_default_verify_paths();
      ctx.set_verify_mode(ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> tls(std::move(tcpStream), ctx);
      if (!t.literal) SSL_set_tlsext_host_name(tls.native_handle(), t.host.c_str());
      tls.set_verify_callback(ssl::host_name_verification(t.host));
      auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, use_nothrow);
      if (hec) throw DownloadUnavailable("TLS with " + t.host + " failed: " + hec.message());
      next = co_await fetch(tls, t, path, options);
    } else {
      next = co_await fetch(tcpStream, t, path, options);
    }
    if (next.redirect.empty()) co_return;
    url = followRedirect(url, next.redirect);
  }
  throw MediaError("too many redirects");
}

void run(const std::string& url, const std::string& path, const DownloadOptions& options) {
  asio::io_context ioc(1);
  std::exception_ptr failure;
  bool finished = false;
  asio::co_spawn(ioc, download(url, path, options), [&](std::exception_ptr e) {
    failure = std::move(e);
    finished = true;
  });
  // Run in slices so cancellation and the overall timeout are noticed while the
  // coroutine waits on the network.
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  while (!finished) {
    ioc.run_for(std::chrono::milliseconds(100));
    if (finished) break;
    if (options.cancel && *options.cancel) {
      ioc.stop();
      failure = std::make_exception_ptr(Cancelled());
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ioc.stop();
      failure = std::make_exception_ptr(DownloadUnavailable("the download timed out"));
      break;
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace

void downloadToFile(const std::string& url, const std::string& path,
                    const DownloadOptions& options) {
  try {
    run(url, path, options);
  } catch (const boost::system::system_error& e) {
    // The io_context's own descriptors (epoll, eventfd) can run out too.
    std::error_code ec;
    std::filesystem::remove(path, ec);
    if (e.code().category() == boost::system::system_category() && isFdShortage(e.code().value())) {
      throw DownloadUnavailable(std::string("out of file descriptors: ") + e.what());
    }
    throw;
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    throw;
  }
}

}  // namespace herald::pipeline
