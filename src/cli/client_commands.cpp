#include "api/hub_names.h"
#include "cli/client_commands.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "protocol/signalr/handshake.h"
#include "protocol/signalr/json_protocol.h"

namespace herald::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

struct Server {
  std::string host;
  std::string port;
};

Server parseServer(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->scheme() != "http")
    throw std::runtime_error("--server must be http://HOST:PORT, got " + url);
  return {std::string(u->encoded_host()), u->has_port() ? std::string(u->port()) : "80"};
}

// One HTTP request on a fresh connection (these commands make a handful).
http::response<http::string_body> request(const Server& s, http::verb verb,
                                          const std::string& target, const std::string& body) {
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve(s.host, s.port));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, s.host);
  req.set(http::field::user_agent, "herald-cli");
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return res;
}

std::string text(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

double number(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_number() ? v->to_number<double>() : 0;
}

// Draws "[#########.........]  42.0%  Stage — message" on one terminal line.
void draw(const json::object& update, bool plain) {
  const double p = number(update, "progress");
  const int width = 30;
  // Clamped: a report outside 0-100 must not make the '.' count negative (a huge size_t).
  const int filled = std::clamp(static_cast<int>(std::lround(p / 100 * width)), 0, width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.append(static_cast<std::size_t>(width - filled), '.');
  char pct[16];
  std::snprintf(pct, sizeof pct, "%5.1f%%", p);
  std::string line =
      "[" + bar + "] " + pct + "  " + text(update, "status") + "  " + text(update, "currentStage");
  auto msg = text(update, "statusMessage");
  if (!msg.empty()) line += " - " + msg;
  if (plain) {
    std::cout << line << "\n" << std::flush;
  } else {
    if (line.size() > 110) line = line.substr(0, 107) + "...";
    std::cout << "\r\033[2K" << line << std::flush;
  }
}

}  // namespace

int watchCommand(const std::string& jobId, const ClientOptions& options) {
  const bool plain = options.plain || !isatty(STDOUT_FILENO);
  try {
    auto server = parseServer(options.server);
    auto negotiated =
        request(server, http::verb::post, "/hubs/job-progress/negotiate?negotiateVersion=1", "");
    if (negotiated.result() != http::status::ok) {
      std::cerr << "herald watch: negotiate answered " << negotiated.result_int() << "\n";
      return 2;
    }
    auto body = json::parse(negotiated.body()).as_object();
    if (body.contains("error")) {
      std::cerr << "herald watch: " << text(body, "error") << "\n";
      return 2;
    }
    auto token = text(body, "connectionToken");

    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    websocket::stream<tcp::socket> ws(ioc);
    asio::connect(ws.next_layer(), resolver.resolve(server.host, server.port));
    ws.handshake(server.host + ":" + server.port, "/hubs/job-progress?id=" + token);
    ws.write(asio::buffer(std::string("{\"protocol\":\"json\",\"version\":1}\x1e")));

    protocol::JsonHubProtocol protocol;
    std::string inbound;
    bool handshaken = false;
    std::int64_t lastSequence = 0;
    // Resubscribing with afterSequence on every (re)connect would resume a stream; one
    // connection is enough for a terminal.
    std::string subscribe;
    protocol::InvocationMessage inv;
    inv.invocationId = "0";
    inv.target = "SubscribeToJob";
    inv.arguments.push_back(json::value(jobId));
    protocol.write(inv, subscribe);
    beast::flat_buffer buffer;
    for (;;) {
      buffer.clear();
      ws.read(buffer);
      inbound += beast::buffers_to_string(buffer.data());
      if (!handshaken) {
        auto hs = inbound.find('\x1e');
        if (hs == std::string::npos) continue;
        auto answer = json::parse(inbound.substr(0, hs)).as_object();
        if (answer.contains("error")) {
          std::cerr << "herald watch: handshake refused: " << text(answer, "error") << "\n";
          return 2;
        }
        inbound.erase(0, hs + 1);
        handshaken = true;
        ws.write(asio::buffer(subscribe));
      }
      std::vector<protocol::HubMessage> messages;
      auto parsed = protocol.parse(inbound, messages, 16ULL * 1024 * 1024);
      inbound.erase(0, parsed.consumed);
      if (!parsed.ok()) {
        std::cerr << "\nherald watch: bad message from the server: " << parsed.error << "\n";
        return 2;
      }
      for (auto& m : messages) {
        if (std::holds_alternative<protocol::PingMessage>(m)) {
          std::string pong;
          protocol.write(protocol::PingMessage{}, pong);
          ws.write(asio::buffer(pong));
          continue;
        }
        if (auto* close = std::get_if<protocol::CloseMessage>(&m)) {
          std::cerr << "\nherald watch: the server closed the connection"
                    << (close->error ? ": " + *close->error : std::string()) << "\n";
          return 2;
        }
        auto* event = std::get_if<protocol::InvocationMessage>(&m);
        if (!event || event->arguments.empty() || !event->arguments[0].is_object()) continue;
        const auto& payload = event->arguments[0].as_object();
        if (event->target == api::names::kError) {
          std::cerr << "herald watch: " << text(payload, "code") << ": " << text(payload, "message")
                    << "\n";
          return text(payload, "code") == "NOT_FOUND" ? 3 : 2;
        }
        if (text(payload, "jobId") != jobId) continue;
        if (event->target == api::names::kJobProgressUpdate) {
          auto seq = static_cast<std::int64_t>(number(payload, "sequence"));
          if (seq <= lastSequence) continue;
          lastSequence = seq;
          draw(payload, plain);
          // The job's state decides, not only the JobCompleted/JobFailed events: a watch
          // that subscribes after the end gets the final state as its snapshot, and the
          // events went out before it joined.
          auto status = text(payload, "status");
          if (status == "Cancelled") {
            std::cout << "\nCancelled\n";
            return 1;
          }
          if (status == "Completed") {
            std::cout << (plain ? "" : "\n") << "Completed: " << text(payload, "statusMessage")
                      << "\n";
            return 0;
          }
          if (status == "Failed") {
            std::cout << (plain ? "" : "\n") << "Failed: " << text(payload, "errorMessage") << "\n";
            return 1;
          }
        } else if (event->target == api::names::kJobCompleted) {
          std::cout << (plain ? "" : "\n") << "Completed: " << text(payload, "message") << "\n";
          return 0;
        } else if (event->target == api::names::kJobFailed) {
          std::cout << (plain ? "" : "\n") << "Failed: " << text(payload, "error") << "\n";
          return 1;
        }
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "\nherald watch: " << e.what() << "\n";
    return 2;
  }
}

int ingestCommand(const std::string& url, const std::string& userId, int priority, bool watch,
                  const ClientOptions& options) {
  try {
    auto server = parseServer(options.server);
    json::object body;
    body["url"] = url;
    if (!userId.empty()) body["userId"] = userId;
    body["priority"] = priority;
    auto res = request(server, http::verb::post, "/api/v1/videos/ingest", json::serialize(body));
    if (res.result() != http::status::accepted) {
      std::cerr << "herald ingest: the server answered " << res.result_int() << ": " << res.body()
                << "\n";
      return 2;
    }
    auto answer = json::parse(res.body()).as_object();
    auto jobId = text(answer, "jobId");
    std::cout << "job " << jobId << " (video " << text(answer, "videoId") << ")\n" << std::flush;
    if (!watch) return 0;
    return watchCommand(jobId, options);
  } catch (const std::exception& e) {
    std::cerr << "herald ingest: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace herald::cli
