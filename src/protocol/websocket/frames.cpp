#include "protocol/websocket/frames.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace herald::protocol::websocket {

namespace {

constexpr std::uint8_t kFin = 0x80;
constexpr std::uint8_t kReservedBits = 0x70;  // RSV1-3
constexpr std::uint8_t kOpcodeBits = 0x0F;
constexpr std::uint8_t kMaskBit = 0x80;
constexpr std::uint8_t kLengthBits = 0x7F;
constexpr std::uint8_t kLength16 = 126;  // 7-bit length values announcing an extended length
constexpr std::uint8_t kLength64 = 127;

bool isControl(Opcode op) { return static_cast<std::uint8_t>(op) >= 8; }

bool knownOpcode(std::uint8_t raw) { return raw <= 2 || (raw >= 8 && raw <= 10); }

// Length of the longest prefix of `s`, at most `limit` bytes, that is valid UTF-8 and ends
// on a code point boundary.
std::size_t utf8PrefixLength(std::string_view s, std::size_t limit) {
  Utf8Validator v;
  std::size_t boundary = 0;
  std::size_t end = std::min(limit, s.size());
  for (std::size_t i = 0; i < end; ++i) {
    if (v.feed(s.substr(i, 1)) != 1) break;
    if (v.complete()) boundary = i + 1;
  }
  return boundary;
}

}  // namespace

// ---- UTF-8 ----

std::size_t Utf8Validator::feed(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    if (pending_ > 0) {
      if (p[i] < lo_ || p[i] > hi_) return i;
      --pending_;
      lo_ = 0x80;
      hi_ = 0xBF;
      ++i;
      continue;
    }
    // Between code points: skip ASCII eight bytes at a time (most SignalR JSON is ASCII).
    while (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, p + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i == n) break;
    const unsigned char b = p[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    if (b < 0xC2) return i;  // a stray continuation byte, or C0/C1 (overlong 2-byte forms)
    if (b < 0xE0) {
      pending_ = 1;
    } else if (b < 0xF0) {
      pending_ = 2;
      if (b == 0xE0) lo_ = 0xA0;  // E0 80..9F would be overlong
      if (b == 0xED) hi_ = 0x9F;  // ED A0..BF would be a UTF-16 surrogate
    } else if (b < 0xF5) {
      pending_ = 3;
      if (b == 0xF0) lo_ = 0x90;  // F0 80..8F would be overlong
      if (b == 0xF4) hi_ = 0x8F;  // F4 90.. would be above U+10FFFF
    } else {
      return i;  // F5..FF never appear in UTF-8
    }
    ++i;
  }
  return n;
}

bool validUtf8(std::string_view bytes) {
  Utf8Validator v;
  return v.feed(bytes) == bytes.size() && v.complete();
}

// ---- Encoding ----

std::size_t encodeFrameHeader(Opcode opcode, std::uint64_t payloadLength, std::uint8_t out[10]) {
  out[0] = kFin | static_cast<std::uint8_t>(opcode);
  if (payloadLength <= 125) {
    out[1] = static_cast<std::uint8_t>(payloadLength);
    return 2;
  }
  std::size_t lengthBytes = payloadLength <= 0xFFFF ? 2 : 8;
  out[1] = lengthBytes == 2 ? kLength16 : kLength64;
  for (std::size_t i = 0; i < lengthBytes; ++i) {  // network byte order
    out[2 + i] = static_cast<std::uint8_t>(payloadLength >> (8 * (lengthBytes - 1 - i)));
  }
  return 2 + lengthBytes;
}

void appendFrame(Opcode opcode, std::string_view payload, std::string& out) {
  std::uint8_t header[10];
  std::size_t n = encodeFrameHeader(opcode, payload.size(), header);
  out.reserve(out.size() + n + payload.size());
  out.append(reinterpret_cast<const char*>(header), n);
  out.append(payload);
}

bool validCloseCode(std::uint16_t code) {
  // 1004 is reserved, 1005/1006/1015 are for APIs only, 1016-2999 are unassigned or
  // reserved for future RFCs, 3000-4999 belong to libraries and applications.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

std::string closeFrame(std::uint16_t code, std::string_view reason) {
  std::string out;
  if (code == 1005 || code == 1006 || code == 1015) {
    appendFrame(Opcode::Close, {}, out);
    return out;
  }
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  payload.append(reason.substr(0, utf8PrefixLength(reason, kMaxControlPayload - 2)));
  appendFrame(Opcode::Close, payload, out);
  return out;
}

// ---- Parsing ----

bool FrameParser::idle() const {
  if (state_ == State::Closed || state_ == State::Failed) return true;
  return state_ == State::Header && headerHave_ == 0 && !inMessage_;
}

bool FrameParser::fail(std::uint16_t code, std::string reason) {
  state_ = State::Failed;
  error_ = FrameError{code, std::move(reason)};
  control_.clear();
  return false;
}

bool FrameParser::feed(std::string_view bytes, std::vector<FrameEvent>& out) {
  for (;;) {
    switch (state_) {
      case State::Failed: return false;
      case State::Closed: return true;
      case State::Header:
        if (bytes.empty()) return true;
        bytes.remove_prefix(consumeHeader(bytes));
        break;
      case State::Payload:
        // Runs even with no bytes left, so an empty frame completes with its header.
        bytes.remove_prefix(isControl(opcode_) ? consumeControl(bytes, out)
                                               : consumeData(bytes, out));
        if (state_ == State::Payload) return true;  // all bytes went into the frame
        break;
    }
  }
}

std::size_t FrameParser::consumeHeader(std::string_view bytes) {
  std::size_t used = 0;
  while (used < bytes.size() && headerHave_ < headerNeed_) {
    auto b = static_cast<std::uint8_t>(bytes[used++]);
    header_[headerHave_++] = b;
    // Check each of the first two bytes on arrival, so a bad frame fails before the
    // rest of its header comes in.
    if (headerHave_ == 1 && !checkFirstByte(b)) return used;
    if (headerHave_ == 2 && !checkSecondByte(b)) return used;
  }
  if (headerHave_ == headerNeed_ && headerHave_ > 2) startFrame();
  return used;
}

bool FrameParser::checkFirstByte(std::uint8_t b0) {
  if (b0 & kReservedBits)
    return fail(kCloseProtocolError, "reserved bits set without a negotiated extension");
  std::uint8_t raw = b0 & kOpcodeBits;
  if (!knownOpcode(raw)) return fail(kCloseProtocolError, "unknown opcode " + std::to_string(raw));
  fin_ = (b0 & kFin) != 0;
  opcode_ = static_cast<Opcode>(raw);
  if (isControl(opcode_)) {
    if (!fin_) return fail(kCloseProtocolError, "fragmented control frame");
    return true;
  }
  if (opcode_ == Opcode::Continuation && !inMessage_) {
    return fail(kCloseProtocolError, "continuation frame without a message in progress");
  }
  if (opcode_ != Opcode::Continuation && inMessage_) {
    return fail(kCloseProtocolError, "new data message while a fragmented message is in progress");
  }
  return true;
}

bool FrameParser::checkSecondByte(std::uint8_t b1) {
  if (!(b1 & kMaskBit)) return fail(kCloseProtocolError, "client frame is not masked");
  std::uint8_t len7 = b1 & kLengthBits;
  if (isControl(opcode_) && len7 > kMaxControlPayload) {
    return fail(kCloseProtocolError, "control frame payload over 125 bytes");
  }
  std::size_t extended = len7 == kLength16 ? 2 : len7 == kLength64 ? 8 : 0;
  headerNeed_ = 2 + extended + 4;
  return true;
}

bool FrameParser::startFrame() {
  std::uint8_t len7 = header_[1] & kLengthBits;
  std::uint64_t length = len7;
  std::size_t extended = headerNeed_ - 6;
  if (extended > 0) {
    length = 0;
    for (std::size_t i = 0; i < extended; ++i) length = (length << 8) | header_[2 + i];
  }
  // Non-minimal length encodings are accepted: RFC 6455 asks senders for the minimal
  // form but does not make receivers fail on the others.
  if (length >> 63) return fail(kCloseProtocolError, "64-bit payload length with the top bit set");
  std::memcpy(mask_, header_ + headerNeed_ - 4, 4);
  maskPhase_ = 0;
  remaining_ = length;
  headerHave_ = 0;
  headerNeed_ = 2;

  if (isControl(opcode_)) {
    control_.clear();
  } else {
    if (opcode_ != Opcode::Continuation) {
      inMessage_ = true;
      messageText_ = opcode_ == Opcode::Text;
      messageSize_ = 0;
      utf8_.reset();
    }
    if (length > maxMessageSize_ - messageSize_) {
      return fail(kCloseTooBig,
                  "message larger than " + std::to_string(maxMessageSize_) + " bytes");
    }
    messageSize_ += length;
  }
  state_ = State::Payload;
  return true;
}

void FrameParser::unmask(const char* in, std::size_t n, char* dst) {
  // The key rotated to the current phase and doubled, so eight bytes XOR in one go.
  std::uint8_t key[8];
  for (std::size_t i = 0; i < 8; ++i) key[i] = mask_[(maskPhase_ + i) & 3];
  std::uint64_t key8;
  std::memcpy(&key8, key, 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, in + i, 8);
    word ^= key8;
    std::memcpy(dst + i, &word, 8);
  }
  for (; i < n; ++i) dst[i] = static_cast<char>(in[i] ^ key[i & 3]);
  maskPhase_ = (maskPhase_ + n) & 3;
}

std::size_t FrameParser::consumeData(std::string_view bytes, std::vector<FrameEvent>& out) {
  auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
  std::string piece(n, '\0');
  unmask(bytes.data(), n, piece.data());
  remaining_ -= n;
  const bool frameEnds = remaining_ == 0;
  const bool messageEnds = frameEnds && fin_;

  auto emit = [&](bool final) {
    out.push_back(FrameEvent{FrameEvent::Kind::Data, std::move(piece), messageText_, final, 0});
  };
  if (messageText_) {
    // Hand over the valid bytes before failing: then the concatenated output up to an
    // error is the same however the input was split.
    std::size_t bad = utf8_.feed(piece);
    if (bad < piece.size()) {
      piece.resize(bad);
      if (!piece.empty()) emit(false);
      fail(kCloseInvalidPayload, "invalid UTF-8 in a text message");
      return n;
    }
    if (messageEnds && !utf8_.complete()) {
      if (!piece.empty()) emit(false);
      fail(kCloseInvalidPayload, "text message ends inside a UTF-8 sequence");
      return n;
    }
  }
  // An empty final piece still goes out: it is how the consumer learns the message ended.
  if (!piece.empty() || messageEnds) emit(messageEnds);
  if (frameEnds) {
    state_ = State::Header;
    if (fin_) {
      inMessage_ = false;
      messageSize_ = 0;
      utf8_.reset();
    }
  }
  return n;
}

std::size_t FrameParser::consumeControl(std::string_view bytes, std::vector<FrameEvent>& out) {
  auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size()));
  std::size_t have = control_.size();
  control_.resize(have + n);
  unmask(bytes.data(), n, control_.data() + have);
  remaining_ -= n;
  if (remaining_ == 0) finishControl(out);
  return n;
}

bool FrameParser::finishControl(std::vector<FrameEvent>& out) {
  state_ = State::Header;
  if (opcode_ == Opcode::Ping || opcode_ == Opcode::Pong) {
    auto kind = opcode_ == Opcode::Ping ? FrameEvent::Kind::Ping : FrameEvent::Kind::Pong;
    out.push_back(FrameEvent{kind, std::move(control_), false, false, 0});
    control_.clear();
    return true;
  }
  // Close: empty, or a 2-byte code followed by a UTF-8 reason (§5.5.1).
  FrameEvent close{FrameEvent::Kind::Close, {}, false, false, kCloseNoStatus};
  if (control_.size() == 1) return fail(kCloseProtocolError, "close frame with a 1-byte payload");
  if (control_.size() >= 2) {
    close.closeCode = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control_[0]) << 8) |
                                                 static_cast<std::uint8_t>(control_[1]));
    if (!validCloseCode(close.closeCode)) {
      return fail(kCloseProtocolError, "invalid close code " + std::to_string(close.closeCode));
    }
    close.payload = control_.substr(2);
    if (!validUtf8(close.payload))
      return fail(kCloseInvalidPayload, "invalid UTF-8 in the close reason");
  }
  out.push_back(std::move(close));
  control_.clear();
  state_ = State::Closed;
  return true;
}

}  // namespace herald::protocol::websocket
