// libFuzzer target: the WebSocket frame parser must give the same result however its
// input is split (same ok/error, same close code, same events once Data pieces are
// merged), never emit more Data bytes than it was given, and keep its promises about
// what it emits (valid UTF-8 text, valid close codes, small control payloads).
// Input: byte 0 picks the split (low 4 bits: largest piece, 0 = one byte at a time;
// bit 7: a 64-byte message limit), byte 1 seeds the piece sizes, the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/websocket/accept_key.h"
#include "protocol/websocket/frames.h"

using namespace herald::protocol::websocket;

namespace {

struct Outcome {
  bool ok = true;
  std::uint16_t errorCode = 0;
  bool closed = false;
  bool idle = true;
  std::vector<std::string> events;  // Data pieces merged up to a message end or a control event
  std::size_t dataBytes = 0;
};

void check(bool condition) {
  if (!condition) __builtin_trap();
}

// Merges the Data pieces and checks each event's own promises.
void summarize(const std::vector<FrameEvent>& events, Outcome& o) {
  std::string pending;
  std::string message;  // the whole current message: control frames may split `pending`
  bool open = false;
  bool text = false;
  auto flush = [&](char tag) {
    o.events.push_back(std::string(1, tag) + (text ? "t:" : "b:") + pending);
    pending.clear();
    open = false;
  };
  for (const auto& e : events) {
    switch (e.kind) {
      case FrameEvent::Kind::Data:
        if (open) check(e.text == text);  // one message, one type
        open = true;
        text = e.text;
        pending += e.payload;
        message += e.payload;
        o.dataBytes += e.payload.size();
        if (e.final) {
          // The whole message, not the piece since the last control frame (found by
          // this target: a code point split around an interleaved Ping).
          if (text) check(validUtf8(message));
          message.clear();
          flush('M');
        }
        break;
      case FrameEvent::Kind::Ping:
      case FrameEvent::Kind::Pong:
        if (open) flush('P');
        check(e.payload.size() <= kMaxControlPayload);
        o.events.push_back((e.kind == FrameEvent::Kind::Ping ? "ping:" : "pong:") + e.payload);
        break;
      case FrameEvent::Kind::Close:
        if (open) flush('P');
        check(e.closeCode == kCloseNoStatus ? e.payload.empty() : validCloseCode(e.closeCode));
        check(validUtf8(e.payload) && e.payload.size() <= kMaxControlPayload - 2);
        o.events.push_back("close:" + std::to_string(e.closeCode) + ":" + e.payload);
        break;
    }
  }
  if (open) flush('P');
}

// Feeds `pieces`, then checks that a finished parser ignores more input.
Outcome run(const std::vector<std::string_view>& pieces, std::uint64_t max) {
  FrameParser parser(max);
  std::vector<FrameEvent> events;
  Outcome o;
  for (auto piece : pieces) {
    bool wasDone = parser.closed() || parser.error().closeCode != 0;
    std::size_t before = events.size();
    o.ok = parser.feed(piece, events);
    if (wasDone) check(events.size() == before);
    if (!o.ok) check(parser.error().closeCode != 0);
  }
  o.errorCode = parser.error().closeCode;
  o.closed = parser.closed();
  o.idle = parser.idle();
  if (!o.ok || o.closed) {
    std::size_t before = events.size();
    check(parser.feed("\x81\x80\x00\x00\x00\x00", events) == o.ok);
    check(events.size() == before);
  }
  summarize(events, o);
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0];
  std::uint32_t seed = data[1];
  std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::uint64_t max = (mode & 0x80) ? 64 : FrameParser::kUnlimited;

  std::vector<std::string_view> pieces;
  const std::size_t largest = (mode & 0x0F) + 1;
  for (std::size_t at = 0; at < stream.size();) {
    seed = seed * 1103515245u + 12345u;
    std::size_t n = (mode & 0x0F) == 0 ? 1 : 1 + (seed >> 16) % largest;
    pieces.push_back(stream.substr(at, n));
    at += n;
  }

  Outcome whole = run({stream}, max);
  Outcome split = run(pieces, max);
  check(whole.ok == split.ok);
  check(whole.errorCode == split.errorCode);
  check(whole.closed == split.closed);
  check(whole.idle == split.idle);
  check(whole.events == split.events);
  check(whole.dataBytes <= stream.size());
  check(split.dataBytes == whole.dataBytes);

  // The handshake helpers take header text: any bytes must be safe.
  if (validClientKey(stream)) check(secWebSocketAccept(stream).size() == 28);
  return 0;
}
