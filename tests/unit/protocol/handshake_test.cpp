#include <gtest/gtest.h>

#include "protocol/signalr/handshake.h"

using namespace herald::protocol;

TEST(Handshake, ParsesJsonAndMessagePackRequests) {
  auto p = parseHandshakeRequest("{\"protocol\":\"json\",\"version\":1}\x1e");
  ASSERT_EQ(p.status, HandshakeStatus::Ok);
  EXPECT_EQ(p.request.protocol, "json");
  EXPECT_EQ(p.request.version, 1);
  EXPECT_EQ(p.consumed, 32u);
  auto m = parseHandshakeRequest("{\"protocol\": \"messagepack\", \"version\": 2, \"x\":1}\x1e");
  ASSERT_EQ(m.status, HandshakeStatus::Ok);
  EXPECT_EQ(m.request.version, 2);
}

TEST(Handshake, KeepsBytesAfterTheSeparator) {
  std::string in = "{\"protocol\":\"json\",\"version\":1}\x1e{\"type\":6}\x1e";
  auto p = parseHandshakeRequest(in);
  ASSERT_EQ(p.status, HandshakeStatus::Ok);
  EXPECT_EQ(in.substr(p.consumed), "{\"type\":6}\x1e");
}

TEST(Handshake, IncompleteUntilTheSeparator) {
  EXPECT_EQ(parseHandshakeRequest("{\"protocol\":\"json\"").status, HandshakeStatus::Incomplete);
}

TEST(Handshake, MalformedRequestsAreErrors) {
  for (auto bad : {"not json\x1e", "{}\x1e", "{\"protocol\":\"json\"}\x1e",
                   "{\"protocol\":1,\"version\":1}\x1e",
                   "{\"protocol\":\"json\",\"version\":\"1\"}\x1e", "[1]\x1e"}) {
    auto p = parseHandshakeRequest(bad);
    EXPECT_EQ(p.status, HandshakeStatus::Error) << bad;
    EXPECT_FALSE(p.error.empty());
  }
}

TEST(Handshake, HugeVersionNumbersAreUnsupportedNotUndefined) {
  // Found by fuzz_handshake: a 100-digit version overflowed the int conversion.
  auto p = parseHandshakeRequest(
      "{\"protocol\":\"json\",\"version\":1888888888888888888888888888888888888}\x1e");
  ASSERT_EQ(p.status, HandshakeStatus::Ok);
  EXPECT_GT(p.request.version, 2);
  auto n = parseHandshakeRequest("{\"protocol\":\"json\",\"version\":-99999999999999999999}\x1e");
  ASSERT_EQ(n.status, HandshakeStatus::Ok);
  EXPECT_LT(n.request.version, 1);
}

TEST(Handshake, ResponsesAreExactBytes) {
  EXPECT_EQ(handshakeSuccess(), "{}\x1e");
  EXPECT_EQ(handshakeError("The protocol 'foo' is not supported."),
            "{\"error\":\"The protocol 'foo' is not supported.\"}\x1e");
}
