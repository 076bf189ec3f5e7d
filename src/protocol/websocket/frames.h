#pragma once
// RFC 6455 framing for the server side: encoding of unmasked server frames and an
// incremental, strict parser for masked client frames. Pure code: bytes in, events out;
// the transport owns the socket, timers and the closing handshake.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace herald::protocol::websocket {

enum class Opcode : std::uint8_t {
  Continuation = 0,
  Text = 1,
  Binary = 2,
  Close = 8,
  Ping = 9,
  Pong = 10
};

// Close codes the parser reports (RFC 6455 §7.4.1).
inline constexpr std::uint16_t kCloseNormal = 1000;
inline constexpr std::uint16_t kCloseProtocolError = 1002;
inline constexpr std::uint16_t kCloseNoStatus = 1005;  // never on the wire: "the frame had no code"
inline constexpr std::uint16_t kCloseInvalidPayload = 1007;
inline constexpr std::uint16_t kCloseTooBig = 1009;

// Control frames carry at most this many payload bytes (§5.5).
inline constexpr std::size_t kMaxControlPayload = 125;

// Header of one unmasked, final (FIN) server frame; writes 2, 4 or 10 bytes to `out` and
// returns the count. `payloadLength` must be below 2^63 (the wire format has 63 bits).
std::size_t encodeFrameHeader(Opcode opcode, std::uint64_t payloadLength, std::uint8_t out[10]);
// A whole unmasked final frame (header + payload), appended to `out`.
void appendFrame(Opcode opcode, std::string_view payload, std::string& out);
// A whole Close frame with a status code and a reason (reason truncated so the payload
// stays <= 125 bytes, without cutting a UTF-8 sequence; invalid UTF-8 in the reason is cut
// off there too, since a peer must fail the connection on it). Codes that must never
// appear on the wire (1005, 1006, 1015) give a Close frame without payload, so echoing a
// received 1005 ("no code") yields the empty Close the peer sent.
std::string closeFrame(std::uint16_t code, std::string_view reason);

// True for the close codes a peer may send (§7.4): 1000-1003, 1007-1014, 3000-4999.
bool validCloseCode(std::uint16_t code);

// Incremental strict UTF-8 validation (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF). A code point may be split across calls.
class Utf8Validator {
 public:
  // Validates the next bytes; returns the index of the first invalid byte, or
  // bytes.size() when every byte so far can still be part of valid UTF-8.
  std::size_t feed(std::string_view bytes);
  // No code point is left half-way.
  bool complete() const { return pending_ == 0; }
  void reset() { *this = Utf8Validator(); }

 private:
  std::uint8_t pending_ = 0;  // continuation bytes still expected
  std::uint8_t lo_ = 0x80;    // allowed range of the next continuation byte: narrower after
  std::uint8_t hi_ = 0xBF;    // E0, ED, F0 and F4 to exclude overlongs, surrogates, > U+10FFFF
};

// Whole-string check, for close reasons.
bool validUtf8(std::string_view bytes);

struct FrameEvent {
  enum class Kind { Data, Ping, Pong, Close } kind;
  std::string
      payload;  // Data: unmasked message bytes (a piece of a message; consecutive Data events of
                // one message concatenate). Ping/Pong: the control payload. Close: the reason text.
  bool text = false;            // Data: the message is a Text message (false: Binary)
  bool final = false;           // Data: this piece ends its message
  std::uint16_t closeCode = 0;  // Close: code from the frame, 1005 when the frame had no payload
};

struct FrameError {
  std::uint16_t closeCode = 0;
  std::string reason;
};  // 1002 protocol error, 1007 invalid UTF-8, 1009 too big

// Incremental parser for client-to-server frames.
class FrameParser {
 public:
  static constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

  // A message whose frames announce more than `maxMessageSize` payload bytes in total is
  // an error (1009), reported as soon as the header that crosses the limit arrives.
  explicit FrameParser(std::uint64_t maxMessageSize = kUnlimited)
      : maxMessageSize_(maxMessageSize) {}

  // Consumes all of `bytes` (which may split frames anywhere, even inside a header), appending
  // complete events to `out`. Data is emitted as soon as bytes of a data frame arrive (not buffered
  // until the frame ends), so memory stays bounded by the input chunk. Control frames (<= 125
  // bytes) are buffered until complete. Returns false on a protocol violation, with error() set;
  // after that (or after a Close event) it ignores all further input and returns false / true
  // respectively without appending. Events before a violation stay in `out`, including the bytes of
  // a Text message up to (not including) the first invalid UTF-8 byte: how the input is split never
  // changes the concatenated events or the error.
  bool feed(std::string_view bytes, std::vector<FrameEvent>& out);
  const FrameError& error() const { return error_; }
  bool closed() const { return state_ == State::Closed; }
  // true when no partial frame or partial message is pending (idle state); lets the transport drop
  // buffers. Also true after a Close or an error: nothing can be pending once input is ignored.
  bool idle() const;

 private:
  enum class State { Header, Payload, Closed, Failed };

  std::size_t consumeHeader(std::string_view bytes);
  bool checkFirstByte(std::uint8_t b0);
  bool checkSecondByte(std::uint8_t b1);
  bool startFrame();
  std::size_t consumeData(std::string_view bytes, std::vector<FrameEvent>& out);
  std::size_t consumeControl(std::string_view bytes, std::vector<FrameEvent>& out);
  bool finishControl(std::vector<FrameEvent>& out);
  void unmask(const char* in, std::size_t n, char* dst);
  bool fail(std::uint16_t code, std::string reason);

  std::uint64_t maxMessageSize_;
  State state_ = State::Header;
  FrameError error_;

  // The frame being read.
  std::uint8_t header_[14] = {};  // 2 + up to 8 length bytes + 4 mask bytes
  std::size_t headerHave_ = 0;
  std::size_t headerNeed_ = 2;
  bool fin_ = false;
  Opcode opcode_ = Opcode::Continuation;
  std::uint64_t remaining_ = 0;  // payload bytes of this frame not yet read
  std::uint8_t mask_[4] = {};
  std::size_t maskPhase_ = 0;  // index into mask_ of the next payload byte
  std::string control_;        // payload of a control frame, unmasked as it arrives

  // The data message in progress (between its first frame and its final one).
  bool inMessage_ = false;
  bool messageText_ = false;
  std::uint64_t messageSize_ = 0;  // announced payload bytes of its frames so far
  Utf8Validator utf8_;
};

}  // namespace herald::protocol::websocket
