#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protocol/websocket/accept_key.h"
#include "protocol/websocket/frames.h"

using namespace herald::protocol::websocket;

namespace {

using Key = std::array<std::uint8_t, 4>;
constexpr Key kRfcKey = {0x37, 0xfa, 0x21, 0x3d};  // the masking key of RFC 6455 §5.7

enum class LengthForm { Minimal, Force16, Force64 };

// A client frame: `firstByte` is FIN/RSV/opcode; the payload is masked with `key`.
std::string clientFrame(std::uint8_t firstByte, std::string_view payload, Key key = kRfcKey,
                        LengthForm form = LengthForm::Minimal) {
  std::string f;
  f.push_back(static_cast<char>(firstByte));
  std::uint64_t n = payload.size();
  if (form == LengthForm::Minimal && n <= 125) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (form != LengthForm::Force64 && n <= 0xFFFF) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>(n >> (8 * i)));
  }
  for (auto k : key) f.push_back(static_cast<char>(k));
  for (std::size_t i = 0; i < payload.size(); ++i) {
    f.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  }
  return f;
}

std::uint8_t first(Opcode op, bool fin = true) {
  return static_cast<std::uint8_t>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(op));
}

std::string text(std::string_view payload, bool fin = true) {
  return clientFrame(first(Opcode::Text, fin), payload);
}
std::string binary(std::string_view payload, bool fin = true) {
  return clientFrame(first(Opcode::Binary, fin), payload);
}
std::string continuation(std::string_view payload, bool fin = true) {
  return clientFrame(first(Opcode::Continuation, fin), payload);
}
std::string ping(std::string_view payload) { return clientFrame(first(Opcode::Ping), payload); }
std::string closePayload(std::uint16_t code, std::string_view reason = {}) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  p.append(reason);
  return p;
}
std::string clientClose(std::uint16_t code, std::string_view reason = {}) {
  return clientFrame(first(Opcode::Close), closePayload(code, reason));
}

// Events with Data pieces merged: "text:Hello", "binary:..", "ping:..", "pong:..",
// "close:1000:reason"; an unfinished message shows as "partial-text:..". How the input
// was split changes the pieces but must not change this.
std::vector<std::string> normalize(const std::vector<FrameEvent>& events) {
  std::vector<std::string> out;
  std::string data;
  bool open = false;
  bool isText = false;
  for (const auto& e : events) {
    if (e.kind == FrameEvent::Kind::Data) {
      if (open) EXPECT_EQ(isText, e.text) << "pieces of one message disagree on text";
      open = true;
      isText = e.text;
      data += e.payload;
      if (e.final) {
        out.push_back((isText ? "text:" : "binary:") + data);
        data.clear();
        open = false;
      }
      continue;
    }
    switch (e.kind) {
      case FrameEvent::Kind::Ping: out.push_back("ping:" + e.payload); break;
      case FrameEvent::Kind::Pong: out.push_back("pong:" + e.payload); break;
      case FrameEvent::Kind::Close:
        out.push_back("close:" + std::to_string(e.closeCode) + ":" + e.payload);
        break;
      default: break;
    }
  }
  if (open) out.push_back((isText ? "partial-text:" : "partial-binary:") + data);
  return out;
}

struct Parsed {
  bool ok = true;
  std::uint16_t errorCode = 0;
  std::vector<FrameEvent> events;
  std::vector<std::string> messages;  // normalize(events)
  bool closed = false;
  bool idle = true;
};

Parsed runWhole(std::string_view input, std::uint64_t max = FrameParser::kUnlimited) {
  FrameParser p(max);
  Parsed r;
  r.ok = p.feed(input, r.events);
  r.errorCode = p.error().closeCode;
  r.messages = normalize(r.events);
  r.closed = p.closed();
  r.idle = p.idle();
  return r;
}

Parsed runInPieces(std::string_view input, const std::vector<std::size_t>& cuts,
                   std::uint64_t max = FrameParser::kUnlimited) {
  FrameParser p(max);
  Parsed r;
  std::size_t at = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    std::size_t end = i < cuts.size() ? cuts[i] : input.size();
    r.ok = p.feed(input.substr(at, end - at), r.events);
    at = end;
  }
  r.errorCode = p.error().closeCode;
  r.messages = normalize(r.events);
  r.closed = p.closed();
  r.idle = p.idle();
  return r;
}

void expectSame(const Parsed& a, const Parsed& b, const char* how) {
  EXPECT_EQ(a.ok, b.ok) << how;
  EXPECT_EQ(a.errorCode, b.errorCode) << how;
  EXPECT_EQ(a.messages, b.messages) << how;
  EXPECT_EQ(a.closed, b.closed) << how;
  EXPECT_EQ(a.idle, b.idle) << how;
}

// Parses `input` whole, one byte at a time and at a few pseudo-random split points;
// every way must agree. Returns the whole-input result.
Parsed parse(std::string_view input, std::uint64_t max = FrameParser::kUnlimited) {
  Parsed whole = runWhole(input, max);
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
  expectSame(whole, runInPieces(input, every, max), "byte at a time");
  std::mt19937 rng(static_cast<unsigned>(input.size()));
  for (int round = 0; round < 4 && input.size() > 1; ++round) {
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    while (true) {
      at += 1 + rng() % 13;
      if (at >= input.size()) break;
      cuts.push_back(at);
    }
    expectSame(whole, runInPieces(input, cuts, max), "random split");
  }
  return whole;
}

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

void expectError(std::string_view input, std::uint16_t code, const std::string& what) {
  auto r = parse(input);
  EXPECT_FALSE(r.ok) << what;
  EXPECT_EQ(r.errorCode, code) << what;
}

}  // namespace

// ---- Encoding ----

TEST(WebSocketFrames, HeaderGoldenBytes) {
  struct Case {
    Opcode op;
    std::uint64_t length;
    std::string expected;
  };
  std::vector<Case> cases = {
      {Opcode::Text, 0, bytes({0x81, 0x00})},
      {Opcode::Binary, 125, bytes({0x82, 0x7D})},
      {Opcode::Text, 126, bytes({0x81, 0x7E, 0x00, 0x7E})},
      {Opcode::Binary, 65535, bytes({0x82, 0x7E, 0xFF, 0xFF})},
      {Opcode::Binary, 65536, bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00})},
      {Opcode::Text, 0x0102030405060708ull, bytes({0x81, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8})},
      {Opcode::Close, 2, bytes({0x88, 0x02})},
      {Opcode::Ping, 0, bytes({0x89, 0x00})},
      {Opcode::Pong, 5, bytes({0x8A, 0x05})},
  };
  for (const auto& c : cases) {
    std::uint8_t out[10];
    std::size_t n = encodeFrameHeader(c.op, c.length, out);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(out), n), c.expected) << c.length;
  }
}

TEST(WebSocketFrames, AppendFrameMatchesRfcUnmaskedExamples) {
  // RFC 6455 §5.7: a single-frame unmasked text message and an unmasked Ping.
  std::string out = "prefix";
  appendFrame(Opcode::Text, "Hello", out);
  EXPECT_EQ(out, "prefix" + bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  std::string pingFrame;
  appendFrame(Opcode::Ping, "Hello", pingFrame);
  EXPECT_EQ(pingFrame, bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  // 256 bytes: the RFC's 16-bit length example.
  std::string big;
  appendFrame(Opcode::Binary, std::string(256, 'x'), big);
  ASSERT_EQ(big.size(), 4u + 256u);
  EXPECT_EQ(big.substr(0, 4), bytes({0x82, 0x7E, 0x01, 0x00}));
  // 64 KiB: the 64-bit length example.
  std::string huge;
  appendFrame(Opcode::Binary, std::string(65536, 'x'), huge);
  ASSERT_EQ(huge.size(), 10u + 65536u);
  EXPECT_EQ(huge.substr(0, 10), bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}));
}

TEST(WebSocketCloseFrame, CodeAndReason) {
  EXPECT_EQ(closeFrame(1000, "bye"), bytes({0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}));
  EXPECT_EQ(closeFrame(1011, ""), bytes({0x88, 0x02, 0x03, 0xF3}));
  EXPECT_EQ(closeFrame(4000, "x"), bytes({0x88, 0x03, 0x0F, 0xA0, 'x'}));
}

TEST(WebSocketCloseFrame, CodesThatMustNotBeSentGiveAnEmptyClose) {
  for (std::uint16_t code : {1005, 1006, 1015}) {
    EXPECT_EQ(closeFrame(code, "ignored"), bytes({0x88, 0x00})) << code;
  }
}

TEST(WebSocketCloseFrame, TruncatesTheReasonTo123Bytes) {
  auto f = closeFrame(1000, std::string(200, 'a'));
  ASSERT_EQ(f.size(), 2u + 125u);
  EXPECT_EQ(static_cast<std::uint8_t>(f[1]), 125);
  EXPECT_EQ(f.substr(4), std::string(123, 'a'));
  // Exactly 123 bytes fit untouched.
  EXPECT_EQ(closeFrame(1000, std::string(123, 'b')).substr(4), std::string(123, 'b'));
}

TEST(WebSocketCloseFrame, TruncationDoesNotCutAUtf8Sequence) {
  const std::string euro = "\xE2\x82\xAC";  // 3 bytes
  // 121 + 3 = 124 > 123: the euro sign goes whole, leaving 121 bytes.
  auto f = closeFrame(1001, std::string(121, 'a') + euro);
  EXPECT_EQ(f.substr(4), std::string(121, 'a'));
  EXPECT_EQ(static_cast<std::uint8_t>(f[1]), 2 + 121);
  // 120 + 3 = 123 fits exactly.
  EXPECT_EQ(closeFrame(1001, std::string(120, 'a') + euro).substr(4), std::string(120, 'a') + euro);
  // A 4-byte code point straddling the limit, after 1..3 bytes of room.
  const std::string emoji = "\xF0\x9F\x98\x80";
  for (std::size_t pad : {120u, 121u, 122u}) {
    EXPECT_EQ(closeFrame(1000, std::string(pad, 'z') + emoji).substr(4), std::string(pad, 'z'))
        << pad;
  }
  // Long all-multibyte reason: the result is the largest whole number of code points.
  std::string many;
  for (int i = 0; i < 60; ++i) many += euro;
  EXPECT_EQ(closeFrame(1000, many).substr(4).size(), 123u);  // 41 euro signs
  std::string many2;
  for (int i = 0; i < 40; ++i) many2 += emoji;
  EXPECT_EQ(closeFrame(1000, many2).substr(4).size(), 120u);  // 30 emoji
}

TEST(WebSocketCloseFrame, InvalidUtf8InTheReasonIsCutOff) {
  EXPECT_EQ(closeFrame(1000, "ok\xFFrest").substr(4), "ok");
  EXPECT_EQ(closeFrame(1000, "ab\xE2\x82").substr(4), "ab");  // ends mid-sequence
}

TEST(WebSocketCloseFrame, OutputParsesAsAValidClose) {
  // Masked the way a client would send it, the server's Close must pass our own checks.
  std::string reason = std::string(121, 'a') + "\xE2\x82\xAC" + std::string(50, 'b');
  auto f = closeFrame(1001, reason);
  auto r = parse(clientFrame(static_cast<std::uint8_t>(f[0]), f.substr(2)));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages, std::vector<std::string>{"close:1001:" + std::string(121, 'a')});
}

// ---- Parsing: valid input ----

TEST(WebSocketParser, RfcMaskedHello) {
  std::string input = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  FrameParser p;
  std::vector<FrameEvent> events;
  ASSERT_TRUE(p.feed(input, events));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, FrameEvent::Kind::Data);
  EXPECT_EQ(events[0].payload, "Hello");
  EXPECT_TRUE(events[0].text);
  EXPECT_TRUE(events[0].final);
  EXPECT_TRUE(p.idle());
  EXPECT_EQ(parse(input).messages, std::vector<std::string>{"text:Hello"});
}

TEST(WebSocketParser, RfcMaskedPong) {
  // §5.7: "Hello" as a masked Pong (the RFC's masked Ping response example).
  std::string input = bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  auto r = parse(input);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, FrameEvent::Kind::Pong);
  EXPECT_EQ(r.events[0].payload, "Hello");
}

TEST(WebSocketParser, RfcFragmentedText) {
  // §5.7: "Hel" (Text, no FIN) then "lo" (Continuation, FIN).
  std::string input = text("Hel", false) + continuation("lo");
  EXPECT_EQ(static_cast<std::uint8_t>(input[0]), 0x01);
  EXPECT_EQ(static_cast<std::uint8_t>(input[9]), 0x80);
  auto r = parse(input);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].payload, "Hel");
  EXPECT_FALSE(r.events[0].final);
  EXPECT_TRUE(r.events[0].text);
  EXPECT_EQ(r.events[1].payload, "lo");
  EXPECT_TRUE(r.events[1].final);
  EXPECT_TRUE(r.events[1].text);
  EXPECT_EQ(r.messages, std::vector<std::string>{"text:Hello"});
}

TEST(WebSocketParser, PingCarriesItsPayload) {
  auto r = parse(ping("Hello") + ping(""));
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].kind, FrameEvent::Kind::Ping);
  EXPECT_EQ(r.events[0].payload, "Hello");
  EXPECT_EQ(r.events[1].kind, FrameEvent::Kind::Ping);
  EXPECT_EQ(r.events[1].payload, "");
  // The largest control payload.
  auto max = parse(ping(std::string(125, 'p')));
  ASSERT_TRUE(max.ok);
  EXPECT_EQ(max.messages, std::vector<std::string>{"ping:" + std::string(125, 'p')});
}

TEST(WebSocketParser, ControlFramesBetweenFragments) {
  std::string input = binary("ab", false) + ping("1") + continuation("cd", false) +
                      clientFrame(first(Opcode::Pong), "2") + continuation("ef") + text("next");
  auto r = parse(input);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages,
            (std::vector<std::string>{"ping:1", "pong:2", "binary:abcdef", "text:next"}));
  EXPECT_TRUE(r.idle);
}

TEST(WebSocketParser, BinaryMessagesMayHoldAnyBytes) {
  std::string payload;
  for (int i = 0; i < 256; ++i) payload.push_back(static_cast<char>(i));
  auto r = parse(binary(payload));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages, std::vector<std::string>{"binary:" + payload});
  EXPECT_FALSE(r.events[0].text);
}

TEST(WebSocketParser, EmptyFinalFrameStillEndsTheMessage) {
  auto single = parse(text(""));
  ASSERT_TRUE(single.ok);
  ASSERT_EQ(single.events.size(), 1u);
  EXPECT_EQ(single.events[0].kind, FrameEvent::Kind::Data);
  EXPECT_EQ(single.events[0].payload, "");
  EXPECT_TRUE(single.events[0].final);
  EXPECT_TRUE(single.events[0].text);

  auto fragmented = parse(binary("abc", false) + continuation(""));
  ASSERT_TRUE(fragmented.ok);
  ASSERT_EQ(fragmented.events.size(), 2u);
  EXPECT_FALSE(fragmented.events[0].final);
  EXPECT_EQ(fragmented.events[1].payload, "");
  EXPECT_TRUE(fragmented.events[1].final);
  EXPECT_FALSE(fragmented.events[1].text);
}

TEST(WebSocketParser, EmptyNonFinalFramesEmitNothing) {
  auto r = parse(text("", false) + continuation("", false) + continuation("x", false) +
                 continuation(""));
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0].payload, "x");
  EXPECT_FALSE(r.events[0].final);
  EXPECT_TRUE(r.events[1].final);
  EXPECT_EQ(r.messages, std::vector<std::string>{"text:x"});
}

TEST(WebSocketParser, ExtendedLengths) {
  std::string medium(300, 'm');
  std::string large(70000, 'L');
  large[69999] = 'E';
  auto r = parse(text(medium) + binary(large));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages, (std::vector<std::string>{"text:" + medium, "binary:" + large}));
}

TEST(WebSocketParser, NonMinimalLengthEncodingsAreAccepted) {
  auto r =
      parse(clientFrame(first(Opcode::Text), "abc", kRfcKey, LengthForm::Force16) +
            clientFrame(first(Opcode::Binary), "defg", kRfcKey, LengthForm::Force64) +
            clientFrame(first(Opcode::Text), std::string(200, 'q'), kRfcKey, LengthForm::Force64));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages,
            (std::vector<std::string>{"text:abc", "binary:defg", "text:" + std::string(200, 'q')}));
}

TEST(WebSocketParser, UnmaskingAcrossChunkBoundariesAtEveryPhase) {
  // A payload long enough for the 8-byte path, fed in chunks whose sizes leave the mask
  // at every phase in turn; the key has four distinct bytes so a wrong phase shows.
  std::string payload;
  for (int i = 0; i < 1000; ++i) payload.push_back(static_cast<char>('a' + i % 26));
  std::string input = clientFrame(first(Opcode::Binary), payload, {0x01, 0x22, 0x44, 0x88});
  for (std::size_t chunk : {1u, 2u, 3u, 5u, 7u, 9u, 11u, 13u, 17u, 31u}) {
    FrameParser p;
    std::vector<FrameEvent> events;
    for (std::size_t at = 0; at < input.size(); at += chunk) {
      ASSERT_TRUE(p.feed(std::string_view(input).substr(at, chunk), events));
    }
    std::string got;
    for (const auto& e : events) got += e.payload;
    EXPECT_EQ(got, payload) << chunk;
    EXPECT_TRUE(events.back().final);
  }
}

TEST(WebSocketParser, DataIsEmittedBeforeTheFrameEnds) {
  std::string payload(1000, 'd');
  std::string input = binary(payload);
  FrameParser p;
  std::vector<FrameEvent> events;
  // Header (2 + 2 + 4 bytes) plus 100 payload bytes.
  ASSERT_TRUE(p.feed(std::string_view(input).substr(0, 108), events));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload, std::string(100, 'd'));
  EXPECT_FALSE(events[0].final);
  EXPECT_FALSE(p.idle());
  events.clear();
  ASSERT_TRUE(p.feed(std::string_view(input).substr(108), events));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload.size(), 900u);
  EXPECT_TRUE(events[0].final);
  EXPECT_TRUE(p.idle());
}

TEST(WebSocketParser, ControlFramesAreEmittedOnlyWhenComplete) {
  std::string input = ping("abcdef");
  FrameParser p;
  std::vector<FrameEvent> events;
  ASSERT_TRUE(p.feed(std::string_view(input).substr(0, input.size() - 1), events));
  EXPECT_TRUE(events.empty());
  EXPECT_FALSE(p.idle());
  ASSERT_TRUE(p.feed(std::string_view(input).substr(input.size() - 1), events));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].payload, "abcdef");
}

TEST(WebSocketParser, IdleOnlyBetweenMessages) {
  FrameParser p;
  std::vector<FrameEvent> events;
  EXPECT_TRUE(p.idle());
  std::string h = text("Hel", false);
  ASSERT_TRUE(p.feed(h.substr(0, 1), events));
  EXPECT_FALSE(p.idle()) << "inside a header";
  ASSERT_TRUE(p.feed(h.substr(1), events));
  EXPECT_FALSE(p.idle()) << "between fragments";
  ASSERT_TRUE(p.feed(ping("x"), events));
  EXPECT_FALSE(p.idle()) << "a ping does not end the message";
  ASSERT_TRUE(p.feed(continuation("lo"), events));
  EXPECT_TRUE(p.idle());
  ASSERT_TRUE(p.feed(ping("y"), events));
  EXPECT_TRUE(p.idle());
}

TEST(WebSocketParser, Utf8SplitAcrossFramesAndChunks) {
  const std::string euro = "\xE2\x82\xAC";
  const std::string emoji = "\xF0\x9F\x98\x80";
  // The euro sign split 1|2 across two frames, the emoji 1|1|2 across three.
  std::string input = text("a\xE2", false) +
                      continuation(
                          "\x82\xAC"
                          "b") +
                      text("\xF0", false) + continuation("\x9F", false) + continuation("\x98\x80");
  auto r = parse(input);  // also byte at a time: the split inside chunks too
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages, (std::vector<std::string>{"text:a" + euro + "b", "text:" + emoji}));
}

TEST(WebSocketParser, Utf8SplitAroundAnInterleavedPing) {
  // U+D34DC (F3 93 93 9C) split 2|2 by a Ping between the fragments: valid, and the Ping
  // comes out before the message. (The fuzz target once checked the pieces on either side
  // of the Ping on their own and called this invalid.)
  std::string input = text("H\xF3\x93", false) + ping("ping") + continuation("\x93\x9C");
  auto r = parse(input);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages, (std::vector<std::string>{"ping:ping", "text:H\xF3\x93\x93\x9C"}));
}

TEST(WebSocketParser, CloseWithoutPayloadReports1005) {
  auto r = parse(clientFrame(first(Opcode::Close), ""));
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].kind, FrameEvent::Kind::Close);
  EXPECT_EQ(r.events[0].closeCode, 1005);
  EXPECT_EQ(r.events[0].payload, "");
  EXPECT_TRUE(r.closed);
}

TEST(WebSocketParser, CloseWithCodeAndReason) {
  auto r = parse(clientClose(1000, "bye \xE2\x82\xAC"));
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0].closeCode, 1000);
  EXPECT_EQ(r.events[0].payload, "bye \xE2\x82\xAC");
}

TEST(WebSocketParser, ValidCloseCodesAreAccepted) {
  for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
                   3999, 4000, 4999}) {
    auto r = parse(clientClose(static_cast<std::uint16_t>(code), "r"));
    EXPECT_TRUE(r.ok) << code;
    EXPECT_EQ(r.messages, std::vector<std::string>{"close:" + std::to_string(code) + ":r"}) << code;
  }
}

TEST(WebSocketParser, InputAfterCloseIsIgnored) {
  FrameParser p;
  std::vector<FrameEvent> events;
  // Bytes after the Close in the same chunk, even invalid ones, are not looked at.
  ASSERT_TRUE(p.feed(text("a") + clientClose(1000) + text("after") + bytes({0xFF, 0xFF}), events));
  EXPECT_EQ(normalize(events), (std::vector<std::string>{"text:a", "close:1000:"}));
  EXPECT_TRUE(p.closed());
  EXPECT_TRUE(p.idle());
  events.clear();
  EXPECT_TRUE(p.feed(text("later"), events));
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(p.error().closeCode, 0);
}

TEST(WebSocketParser, CloseMayArriveMidMessage) {
  auto r = parse(text("part", false) + clientClose(1001));
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages, (std::vector<std::string>{"close:1001:", "partial-text:part"}));
  EXPECT_TRUE(r.closed);
}

// ---- Parsing: protocol violations ----

TEST(WebSocketParserErrors, UnmaskedFrame) {
  expectError(bytes({0x81, 0x05, 'H', 'e', 'l', 'l', 'o'}), 1002, "unmasked text");
  expectError(bytes({0x89, 0x00}), 1002, "unmasked ping");
}

TEST(WebSocketParserErrors, ReservedBits) {
  for (int rsv : {0x40, 0x20, 0x10, 0x70}) {
    expectError(clientFrame(static_cast<std::uint8_t>(0x81 | rsv), "x"), 1002,
                "rsv " + std::to_string(rsv));
    expectError(clientFrame(static_cast<std::uint8_t>(0x89 | rsv), ""), 1002,
                "ping rsv " + std::to_string(rsv));
  }
}

TEST(WebSocketParserErrors, UnknownOpcodes) {
  for (int op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    expectError(clientFrame(static_cast<std::uint8_t>(0x80 | op), "x"), 1002,
                "opcode " + std::to_string(op));
  }
}

TEST(WebSocketParserErrors, FragmentedControlFrames) {
  for (auto op : {Opcode::Ping, Opcode::Pong, Opcode::Close}) {
    expectError(clientFrame(first(op, false), ""), 1002, "control without FIN");
  }
}

TEST(WebSocketParserErrors, ControlPayloadOver125) {
  expectError(ping(std::string(126, 'p')), 1002, "126-byte ping (16-bit length)");
  expectError(clientFrame(first(Opcode::Pong), "x", kRfcKey, LengthForm::Force64), 1002,
              "pong with a 64-bit length");
  expectError(clientClose(1000, std::string(124, 'r')), 1002, "126-byte close");
  // 125 is the limit, not beyond it.
  EXPECT_TRUE(parse(clientClose(1000, std::string(123, 'r'))).ok);
}

TEST(WebSocketParserErrors, ContinuationWithoutAMessage) {
  expectError(continuation("x"), 1002, "first frame is a continuation");
  expectError(text("done") + continuation("x"), 1002, "continuation after a final frame");
}

TEST(WebSocketParserErrors, NewMessageDuringAFragmentedOne) {
  expectError(text("a", false) + text("b"), 1002, "text during text");
  expectError(binary("a", false) + ping("p") + binary("b"), 1002, "binary during binary");
  expectError(text("a", false) + binary("b"), 1002, "binary during text");
}

TEST(WebSocketParserErrors, SixtyFourBitLengthWithTheTopBitSet) {
  std::string f = bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0x01, 1, 2, 3, 4});
  expectError(f, 1002, "length 2^63 + 1");
  // The largest allowed length is fine as a header: the parser just waits for data.
  auto r = parse(bytes({0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4}));
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.idle);
}

TEST(WebSocketParserErrors, InvalidUtf8InText) {
  struct Case {
    std::string payload;
    const char* what;
  };
  std::vector<Case> cases = {
      {"ab\xFF", "0xFF"},
      {"\x80", "stray continuation"},
      {"\xC0\x80", "overlong NUL"},
      {"\xC1\xBF", "overlong 2-byte"},
      {"\xE0\x80\x80", "overlong 3-byte"},
      {"\xE0\x9F\xBF", "overlong 3-byte upper"},
      {"\xED\xA0\x80", "surrogate D800"},
      {"\xED\xBF\xBF", "surrogate DFFF"},
      {"\xF0\x8F\xBF\xBF", "overlong 4-byte"},
      {"\xF4\x90\x80\x80", "above U+10FFFF"},
      {"\xF5\x80\x80\x80", "F5 lead"},
      {"\xE2\x82"
       "a",
       "ASCII inside a sequence"},
      {"\xC3\xA9\xC3", "2-byte sequence cut at the end"},
      {"\xF0\x9F\x98", "4-byte sequence cut at the end"},
  };
  for (const auto& c : cases) expectError(text(c.payload), 1007, c.what);
}

TEST(WebSocketParserErrors, InvalidUtf8SplitAcrossFrames) {
  expectError(text("ok\xE2", false) + continuation("\x28\xA1"), 1007,
              "bad continuation in the next frame");
  expectError(text("ok\xE2", false) + continuation("\x82", false) + continuation(""), 1007,
              "message ends after an empty final frame mid-sequence");
}

TEST(WebSocketParserErrors, ValidTextBeforeTheBadByteIsStillDelivered) {
  auto r = parse(text("good", false) + continuation("more\xFFtail"));
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.errorCode, 1007);
  EXPECT_EQ(r.messages, std::vector<std::string>{"partial-text:goodmore"});
}

TEST(WebSocketParserErrors, InvalidUtf8IsFineInBinary) {
  auto r = parse(binary("\xFF\xC0\x80\xED\xA0\x80"));
  EXPECT_TRUE(r.ok);
}

TEST(WebSocketParserErrors, CloseWithOneBytePayload) {
  expectError(clientFrame(first(Opcode::Close), "\x03"), 1002, "1-byte close");
}

TEST(WebSocketParserErrors, InvalidCloseCodes) {
  for (int code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    expectError(clientClose(static_cast<std::uint16_t>(code)), 1002,
                "close code " + std::to_string(code));
  }
}

TEST(WebSocketParserErrors, CloseReasonMustBeUtf8) {
  expectError(clientClose(1000, "bad\xFF"), 1007, "0xFF in the reason");
  expectError(clientClose(1000, "\xE2\x82"), 1007, "reason ends mid-sequence");
  expectError(clientClose(1000, "\xED\xA0\x80"), 1007, "surrogate in the reason");
}

TEST(WebSocketParserErrors, MessageSizeLimit) {
  EXPECT_TRUE(parse(binary(std::string(10, 'x')), 10).ok);
  auto single = parse(binary(std::string(11, 'x')), 10);
  EXPECT_FALSE(single.ok);
  EXPECT_EQ(single.errorCode, 1009);
  EXPECT_TRUE(single.events.empty()) << "rejected at the header, before any payload";
  // Across fragments: the frame that crosses the limit fails.
  auto fragmented =
      parse(text("12345", false) + continuation("6789", false) + continuation("ab"), 10);
  EXPECT_FALSE(fragmented.ok);
  EXPECT_EQ(fragmented.errorCode, 1009);
  EXPECT_EQ(fragmented.messages, std::vector<std::string>{"partial-text:123456789"});
  // The limit is per message, and control frames do not count.
  auto many = parse(text("1234567890") + ping("p") + text("1234567890"), 10);
  EXPECT_TRUE(many.ok);
  EXPECT_EQ(many.messages.size(), 3u);
}

TEST(WebSocketParserErrors, FailureIsFinal) {
  FrameParser p;
  std::vector<FrameEvent> events;
  EXPECT_FALSE(p.feed(text("before") + continuation("x") + text("after"), events));
  EXPECT_EQ(normalize(events), std::vector<std::string>{"text:before"});
  EXPECT_EQ(p.error().closeCode, 1002);
  EXPECT_FALSE(p.error().reason.empty());
  EXPECT_FALSE(p.closed());
  events.clear();
  EXPECT_FALSE(p.feed(text("valid"), events));
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(p.error().closeCode, 1002);
}

TEST(WebSocketParserErrors, HeaderErrorsAreReportedBeforeTheHeaderIsComplete) {
  // The first byte alone is enough to reject reserved bits: no need to wait for more.
  FrameParser p;
  std::vector<FrameEvent> events;
  EXPECT_FALSE(p.feed(bytes({0xC1}), events));
  EXPECT_EQ(p.error().closeCode, 1002);
}

// ---- A long session, whole vs. split ----

TEST(WebSocketParser, SplittingNeverChangesTheResult) {
  // parse() checks whole == byte-at-a-time == random splits; here over a session with
  // every kind of frame, then the same session cut off at every length.
  std::string session = text("Hello") + binary(std::string(300, '\x01'), false) + ping("ping") +
                        continuation("", false) + continuation(std::string(70000, '\x02')) +
                        text("\xE2\x82", false) + clientFrame(first(Opcode::Pong), "") +
                        continuation(
                            "\xAC"
                            "end") +
                        text("") + clientClose(1000, "done");
  auto r = parse(session);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.messages.size(), 7u);
  EXPECT_TRUE(r.closed);
  std::string small =
      text("ab") + binary("c", false) + ping("") + continuation("d") + clientClose(4000, "x");
  for (std::size_t n = 0; n <= small.size(); ++n) parse(small.substr(0, n));
  for (std::size_t n = 0; n <= small.size(); ++n) {
    std::string corrupted = small;
    if (n < corrupted.size()) corrupted[n] = static_cast<char>(corrupted[n] ^ 0x5A);
    parse(corrupted);
  }
}

// ---- UTF-8 validator ----

TEST(WebSocketUtf8, Boundaries) {
  for (const char* ok : {"", "\x7F", "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF",
                         "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"}) {
    EXPECT_TRUE(validUtf8(ok)) << ok;
  }
  EXPECT_TRUE(validUtf8(std::string_view("\0", 1)));
  for (const char* bad :
       {"\x80", "\xBF", "\xC0\xAF", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xF0\x8F\xBF\xBF",
        "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80", "\xFE", "\xC2", "\xE1\x80"}) {
    EXPECT_FALSE(validUtf8(bad)) << bad;
  }
}

TEST(WebSocketUtf8, ReportsTheFirstInvalidByteAcrossTheAsciiFastPath) {
  for (std::size_t at = 0; at < 40; ++at) {
    std::string s(40, 'a');
    s[at] = '\xFF';
    Utf8Validator v;
    EXPECT_EQ(v.feed(s), at);
  }
  Utf8Validator v;
  EXPECT_EQ(v.feed(std::string(17, 'a') + "\xE2\x82"), 19u);
  EXPECT_FALSE(v.complete());
  EXPECT_EQ(v.feed("\xAC" + std::string(20, 'b')), 21u);
  EXPECT_TRUE(v.complete());
}

// ---- Opening handshake keys ----

TEST(WebSocketAcceptKey, RfcExample) {
  // RFC 6455 §1.3: SHA-1 0xb3 0x7a 0x4f 0x2c 0xc0 0x62 0x4f 0x16 0x90 0xf6 0x46 0x06 ...
  EXPECT_EQ(secWebSocketAccept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  // A second known pair (the example in Wikipedia's WebSocket article).
  EXPECT_EQ(secWebSocketAccept("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(WebSocketAcceptKey, ValidClientKeys) {
  EXPECT_TRUE(validClientKey("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_TRUE(validClientKey("AAAAAAAAAAAAAAAAAAAAAA=="));
  EXPECT_TRUE(validClientKey("+/+/+/+/+/+/+/+/+/+/+w=="));
  EXPECT_FALSE(validClientKey(""));
  EXPECT_FALSE(validClientKey("dGhlIHNhbXBsZSBub25jZQ="));    // 23 characters
  EXPECT_FALSE(validClientKey("dGhlIHNhbXBsZSBub25jZQ==="));  // 25 characters
  EXPECT_FALSE(validClientKey("dGhlIHNhbXBsZSBub25jZQ=A"));   // not "==" at the end
  EXPECT_FALSE(validClientKey("dGhlIHNhbXBsZSBub25jZ==="));   // 15 bytes
  EXPECT_FALSE(validClientKey("dGhlIHNhbXBsZSBub25jZQAA"));   // 18 bytes, no padding
  EXPECT_FALSE(validClientKey("dGhlIHNhbXBsZSBub25j-_=="));   // URL-safe alphabet
  EXPECT_FALSE(validClientKey("dGhlIHNhbXBsZSBub2 jZQ=="));   // a space inside
  EXPECT_FALSE(validClientKey(" dGhlIHNhbXBsZSBub25jZ=="));
}
