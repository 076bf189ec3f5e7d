// The request a node sends to a connection's owner (http/forwarder.h): the client's request
// line and end-to-end headers, the guard, its own framing; nothing of the client's hop (a
// client-sent X-Herald-Forward included) and no smuggled framing.
#include <gtest/gtest.h>

#include <boost/beast/http.hpp>

#include "http/forwarder.h"

namespace bhttp = boost::beast::http;

TEST(Forwarder, PassesEndToEndHeadersAndSetsItsOwnFraming) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/hubs/job-progress?id=t.k&_=1", 11};
  req.set(bhttp::field::host, "herald.example");
  req.set(bhttp::field::authorization, "Bearer abc");
  req.set(bhttp::field::origin, "http://app.example");
  req.set(bhttp::field::content_type, "text/plain;charset=UTF-8");
  req.set(bhttp::field::connection, "keep-alive, X-Secret");
  req.set(bhttp::field::keep_alive, "timeout=5");
  req.set(bhttp::field::transfer_encoding, "chunked");
  req.set(bhttp::field::content_length, "999");
  req.set(bhttp::field::upgrade, "websocket");
  req.set("X-Herald-Forward", "1.forged");
  req.set("X-Requested-With", "XMLHttpRequest");
  const auto head = herald::http::forwardedHead(req, 12, "1800000000.mac");
  EXPECT_EQ(head.rfind("POST /hubs/job-progress?id=t.k&_=1 HTTP/1.1\r\n", 0), 0u);
  for (const char* kept :
       {"Host: herald.example\r\n", "Authorization: Bearer abc\r\n",
        "Origin: http://app.example\r\n", "Content-Type: text/plain;charset=UTF-8\r\n",
        "X-Requested-With: XMLHttpRequest\r\n"}) {
    EXPECT_NE(head.find(kept), std::string::npos) << kept;
  }
  for (const char* dropped :
       {"keep-alive", "Keep-Alive", "chunked", "999", "websocket", "forged"}) {
    EXPECT_EQ(head.find(dropped), std::string::npos) << dropped;
  }
  EXPECT_NE(head.find("X-Herald-Forward: 1800000000.mac\r\n"), std::string::npos);
  EXPECT_NE(head.find("Connection: close\r\nContent-Length: 12\r\n\r\n"), std::string::npos);
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4);  // the body follows, nothing else
}
