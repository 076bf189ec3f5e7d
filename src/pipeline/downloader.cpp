#include "pipeline/downloader.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

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

#include "jobs/processor.h"
#include "pipeline/errors.h"

namespace herald::pipeline {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

struct Target {
  bool tls = false;
  std::string host;
  std::string port;
  std::string resource;
};

Target parseTarget(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) throw MediaError("not a valid URL: " + url);
  Target t;
  auto scheme = std::string(u->scheme());
  if (scheme == "https")
    t.tls = true;
  else if (scheme != "http")
    throw MediaError("unsupported URL scheme: " + scheme);
  t.host = std::string(u->encoded_host());
  if (t.host.empty()) throw MediaError("URL has no host: " + url);
  t.port = u->has_port() ? std::string(u->port()) : (t.tls ? "443" : "80");
  t.resource = std::string(u->encoded_resource());
  if (t.resource.empty()) t.resource = "/";
  return t;
}

// Outcome of one request: done, or a redirect to follow.
struct Hop {
  std::string redirect;
};

template <class Stream>
asio::awaitable<Hop> fetch(Stream& stream, const Target& t, const std::string& path,
                           const DownloadOptions& options) {
  http::request<http::empty_body> req{http::verb::get, t.resource, 11};
  req.set(http::field::host, t.host);
  req.set(http::field::user_agent, "Herald");
  auto [wec, wn] = co_await http::async_write(stream, req, use_nothrow);
  if (wec)
    throw DownloadUnavailable("sending the request to " + t.host + " failed: " + wec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(options.maxBytes);
  auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, use_nothrow);
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
  if (expected > options.maxBytes)
    throw MediaError("the media is larger than the allowed " + std::to_string(options.maxBytes) +
                     " bytes");

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    const int err = errno;  // what the open failed with
    if (jobs::isResourceShortage(err)) {
      throw jobs::ResourceShortage("cannot write " + path + ": " + std::strerror(err));
    }
    throw std::runtime_error("cannot write " + path);
  }
  std::array<char, 64 * 1024> chunk;
  std::size_t total = 0;
  while (!parser.is_done()) {
    if (options.cancel && *options.cancel) throw Cancelled();
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (rec && rec != http::error::need_buffer) {
      if (rec == http::error::body_limit)
        throw MediaError("the media is larger than the allowed " +
                         std::to_string(options.maxBytes) + " bytes");
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

asio::awaitable<void> download(std::string url, std::string path, const DownloadOptions& options) {
  auto executor = co_await asio::this_coro::executor;
  for (int hop = 0; hop <= options.maxRedirects; ++hop) {
    auto t = parseTarget(url);
    tcp::resolver resolver(executor);
    auto [rec, endpoints] = co_await resolver.async_resolve(t.host, t.port, use_nothrow);
    if (rec) throw DownloadUnavailable("cannot resolve " + t.host + ": " + rec.message());
    beast::tcp_stream tcpStream(executor);
    auto [cec, ep] = co_await tcpStream.async_connect(endpoints, use_nothrow);
    if (cec)
      throw DownloadUnavailable("cannot connect to " + t.host + ":" + t.port + ": " +
                                cec.message());
    Hop next;
    if (t.tls) {
      ssl::context ctx(ssl::context::tls_client);
      ctx.set_default_verify_paths();
      ctx.set_verify_mode(ssl::verify_peer);
      beast::ssl_stream<beast::tcp_stream> tls(std::move(tcpStream), ctx);
      SSL_set_tlsext_host_name(tls.native_handle(), t.host.c_str());
      tls.set_verify_callback(ssl::host_name_verification(t.host));
      auto [hec] = co_await tls.async_handshake(ssl::stream_base::client, use_nothrow);
      if (hec) throw DownloadUnavailable("TLS with " + t.host + " failed: " + hec.message());
      next = co_await fetch(tls, t, path, options);
    } else {
      next = co_await fetch(tcpStream, t, path, options);
    }
    if (next.redirect.empty()) co_return;
    // Relative redirects resolve against the current URL.
    if (next.redirect.front() == '/') {
      url = std::string(t.tls ? "https://" : "http://") + t.host + ":" + t.port + next.redirect;
    } else {
      url = next.redirect;
    }
  }
  throw MediaError("too many redirects");
}

}  // namespace

void downloadToFile(const std::string& url, const std::string& path,
                    const DownloadOptions& options) {
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
  if (failure) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::rethrow_exception(failure);
  }
}

}  // namespace herald::pipeline
