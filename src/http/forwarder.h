#pragma once
// Relays a hub request (a long poll, the SSE stream, a send, a DELETE) that reached a node
// other than its connection's owner to that owner, and streams the answer back as it comes
// (Centrifugo forwards the same way). The owner's address is the MAC-checked URL of the
// connection token (transport/cluster_keys.h), never anything else the client sent; the
// request carries X-Herald-Forward so the owner serves it and never forwards it again.
//
// The client's request was read within Server:MaxHttpBodyBytes like any other, and the owner
// reads it with the same limit. The answer is relayed 16 KiB at a time, each piece written to
// the client before the next is read, so a relay holds one buffer however long an SSE
// stream lasts and however slowly its client reads.
//
// Thread safety: one call per request, on the request's executor.
#include <chrono>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace herald::http {

enum class ForwardOutcome {
  Relayed,           // the owner answered; its answer went to the client (or the client left)
  OwnerUnreachable,  // nothing came back: the caller answers 404 (the client renegotiates)
  ClientLeft,        // the client went away before the owner answered (a poll given up)
};

struct ForwardRequest {
  const boost::beast::http::request<boost::beast::http::string_body>& request;  // its headers
  const std::string& body;
  std::string ownerUrl;       // http://HOST:PORT, from a verified token
  std::string guard;          // the X-Herald-Forward value
  std::chrono::seconds idle;  // longest silence of the owner (a long poll, SSE keep-alives)
};

// Relays the request. The client connection is not reusable afterwards (the relayed answer
// ends with the owner's connection), so the caller closes it.
boost::asio::awaitable<ForwardOutcome> forwardToOwner(boost::beast::tcp_stream& client,
                                                      ForwardRequest forward);

// The request as sent to the owner: the client's request line and end-to-end headers, then
// X-Herald-Forward, Connection: close and the body's length (hop-by-hop headers dropped).
std::string forwardedHead(const boost::beast::http::request<boost::beast::http::string_body>& req,
                          std::size_t bodySize, const std::string& guard);

}  // namespace herald::http
