#include "protocol/signalr/msgpack_protocol.h"

#include <msgpuck.h>

#include <cstring>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include "core/json_text.h"

#include "core/clock.h"
#include "protocol/signalr/varint.h"

namespace herald::protocol {
namespace {

namespace json = boost::json;

// Nesting deeper than this is refused: the converter recurses, and no legitimate
// hub payload comes near it.
constexpr int kMaxDepth = 64;

std::string base64(const char* data, std::size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  auto b = reinterpret_cast<const unsigned char*>(data);
  std::size_t i = 0;
  for (; i + 2 < size; i += 3) {
    unsigned v = (b[i] << 16) | (b[i + 1] << 8) | b[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (size - i == 1) {
    unsigned v = b[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (size - i == 2) {
    unsigned v = (b[i] << 16) | (b[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::uint64_t bigEndian(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

// A cursor over one message body. Every read checks the bytes it needs against `end`
// first: msgpuck's decoders trust their input, and its mp_check overflows on huge
// container counts (found by fuzzing), so bounds are never left to it.
struct Reader {
  const char* p;
  const char* end;
  std::size_t left() const { return static_cast<std::size_t>(end - p); }
  bool more() const { return p < end; }
};

// Reads one ext value. Timestamps (type -1) become ISO-8601 strings; other ext types
// become null.
bool readExt(Reader& r, json::value& out, std::string& error) {
  auto c = static_cast<std::uint8_t>(*r.p);
  std::size_t len = 0, header = 0;
  auto need = [&](std::size_t n) { return r.left() >= n; };
  switch (c) {
    case 0xd4:
      len = 1;
      header = 2;
      break;
    case 0xd5:
      len = 2;
      header = 2;
      break;
    case 0xd6:
      len = 4;
      header = 2;
      break;
    case 0xd7:
      len = 8;
      header = 2;
      break;
    case 0xd8:
      len = 16;
      header = 2;
      break;
    case 0xc7:
      if (!need(2)) break;
      len = static_cast<std::uint8_t>(r.p[1]);
      header = 3;
      break;
    case 0xc8:
      if (!need(3)) break;
      len = bigEndian(r.p + 1, 2);
      header = 4;
      break;
    case 0xc9:
      if (!need(5)) break;
      len = bigEndian(r.p + 1, 4);
      header = 6;
      break;
    default: error = "Invalid MessagePack byte 0x" + std::to_string(c) + "."; return false;
  }
  if (header == 0 || !need(header) || r.left() - header < len) {
    error = "Truncated MessagePack ext value.";
    return false;
  }
  auto type = static_cast<std::int8_t>(r.p[header - 1]);
  const char* data = r.p + header;
  r.p = data + len;
  out = nullptr;
  if (type != -1) return true;
  std::int64_t seconds = 0;
  std::uint32_t nanos = 0;
  if (len == 4) {
    seconds = static_cast<std::int64_t>(bigEndian(data, 4));
  } else if (len == 8) {
    auto v = bigEndian(data, 8);
    nanos = static_cast<std::uint32_t>(v >> 34);
    seconds = static_cast<std::int64_t>(v & 0x3FFFFFFFFull);
  } else if (len == 12) {
    nanos = static_cast<std::uint32_t>(bigEndian(data, 4));
    seconds = static_cast<std::int64_t>(bigEndian(data + 4, 8));
  } else {
    return true;
  }
  // Only dates a client could mean (years 0..9999) are converted; others stay null.
  if (seconds < -62167219200LL || seconds > 253402300799LL) return true;
  out = core::isoFromMillis(seconds * 1000 + nanos / 1000000);
  return true;
}

bool truncated(std::string& error) {
  error = "Truncated MessagePack value.";
  return false;
}

bool readStringRaw(Reader& r, std::string& out) {
  if (!r.more() || mp_typeof(*r.p) != MP_STR) return false;
  if (mp_check_strl(r.p, r.end) > 0) return false;
  const char* q = r.p;
  auto len = mp_decode_strl(&q);
  if (static_cast<std::size_t>(r.end - q) < len) return false;
  out.assign(q, len);
  r.p = q + len;
  return true;
}

bool readValue(Reader& r, json::value& out, int depth, std::string& error) {
  if (depth > kMaxDepth) {
    error = "MessagePack value nested too deeply.";
    return false;
  }
  if (!r.more()) return truncated(error);
  switch (mp_typeof(*r.p)) {
    case MP_NIL:
      mp_decode_nil(&r.p);
      out = nullptr;
      return true;
    case MP_BOOL: out = mp_decode_bool(&r.p); return true;
    case MP_UINT: {
      if (mp_check_uint(r.p, r.end) > 0) return truncated(error);
      auto v = mp_decode_uint(&r.p);
      if (v <= static_cast<std::uint64_t>(INT64_MAX))
        out = static_cast<std::int64_t>(v);
      else
        out = v;
      return true;
    }
    case MP_INT:
      if (mp_check_int(r.p, r.end) > 0) return truncated(error);
      out = mp_decode_int(&r.p);
      return true;
    case MP_FLOAT:
      if (mp_check_float(r.p, r.end) > 0) return truncated(error);
      out = static_cast<double>(mp_decode_float(&r.p));
      return true;
    case MP_DOUBLE:
      if (mp_check_double(r.p, r.end) > 0) return truncated(error);
      out = mp_decode_double(&r.p);
      return true;
    case MP_STR: {
      std::string s;
      if (!readStringRaw(r, s)) return truncated(error);
      out = json::string(s);
      return true;
    }
    case MP_BIN: {
      if (mp_check_binl(r.p, r.end) > 0) return truncated(error);
      const char* q = r.p;
      auto len = mp_decode_binl(&q);
      if (static_cast<std::size_t>(r.end - q) < len) return truncated(error);
      out = base64(q, len);
      r.p = q + len;
      return true;
    }
    case MP_ARRAY: {
      if (mp_check_array(r.p, r.end) > 0) return truncated(error);
      auto n = mp_decode_array(&r.p);
      if (n > r.left()) return truncated(error);  // every element takes a byte at least
      json::array arr;
      arr.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        json::value item;
        if (!readValue(r, item, depth + 1, error)) return false;
        arr.push_back(std::move(item));
      }
      out = std::move(arr);
      return true;
    }
    case MP_MAP: {
      if (mp_check_map(r.p, r.end) > 0) return truncated(error);
      auto n = mp_decode_map(&r.p);
      if (n > r.left() / 2) return truncated(error);
      json::object obj;
      for (std::uint32_t i = 0; i < n; ++i) {
        std::string key;
        if (r.more() && mp_typeof(*r.p) == MP_STR) {
          if (!readStringRaw(r, key)) return truncated(error);
        } else {
          // Scalar keys become their JSON text. Container keys are refused: serialising
          // nested keys into keys grows without bound (found by fuzzing: a few hundred
          // bytes asked for gigabytes).
          json::value k;
          if (!readValue(r, k, depth + 1, error)) return false;
          if (k.is_array() || k.is_object()) {
            error = "MessagePack map keys must be strings or scalars.";
            return false;
          }
          key = core::toJson(k);
        }
        json::value v;
        if (!readValue(r, v, depth + 1, error)) return false;
        obj[key] = std::move(v);
      }
      out = std::move(obj);
      return true;
    }
    case MP_EXT: return readExt(r, out, error);
  }
  error = "Invalid MessagePack value.";
  return false;
}

bool readInt(Reader& r, std::int64_t& out) {
  if (!r.more()) return false;
  auto t = mp_typeof(*r.p);
  if (t == MP_UINT) {
    if (mp_check_uint(r.p, r.end) > 0) return false;
    auto v = mp_decode_uint(&r.p);
    if (v > static_cast<std::uint64_t>(INT64_MAX)) return false;
    out = static_cast<std::int64_t>(v);
    return true;
  }
  if (t == MP_INT) {
    if (mp_check_int(r.p, r.end) > 0) return false;
    out = mp_decode_int(&r.p);
    return true;
  }
  return false;
}

bool readString(Reader& r, std::string& out) { return readStringRaw(r, out); }

// nil or str; an empty string counts as absent, as in the .NET reader.
bool readOptionalString(Reader& r, std::optional<std::string>& out) {
  if (!r.more()) return false;
  if (mp_typeof(*r.p) == MP_NIL) {
    mp_decode_nil(&r.p);
    return true;
  }
  std::string s;
  if (!readString(r, s)) return false;
  if (!s.empty()) out = std::move(s);
  return true;
}

bool skipHeaders(Reader& r) {
  if (!r.more() || mp_typeof(*r.p) != MP_MAP) return false;
  json::value ignored;
  std::string error;
  return readValue(r, ignored, 1, error);
}

bool readStreamIds(Reader& r, std::vector<std::string>& out) {
  if (!r.more()) return false;
  if (mp_typeof(*r.p) == MP_NIL) {
    mp_decode_nil(&r.p);
    return true;
  }
  if (mp_typeof(*r.p) != MP_ARRAY || mp_check_array(r.p, r.end) > 0) return false;
  auto n = mp_decode_array(&r.p);
  if (n > r.left()) return false;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string id;
    if (!readString(r, id)) return false;
    out.push_back(std::move(id));
  }
  return true;
}

// ---- writing ---------------------------------------------------------------------

template <class F>
void put(std::string& out, std::size_t size, F encode) {
  auto old = out.size();
  out.resize(old + size);
  char* end = encode(out.data() + old);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

void writeNil(std::string& out) {
  put(out, 1, [](char* d) { return mp_encode_nil(d); });
}
void writeBool(std::string& out, bool v) {
  put(out, 1, [v](char* d) { return mp_encode_bool(d, v); });
}
void writeArrayHeader(std::string& out, std::uint32_t n) {
  put(out, mp_sizeof_array(n), [n](char* d) { return mp_encode_array(d, n); });
}
void writeMapHeader(std::string& out, std::uint32_t n) {
  put(out, mp_sizeof_map(n), [n](char* d) { return mp_encode_map(d, n); });
}
void writeInt(std::string& out, std::int64_t v) {
  if (v >= 0) {
    auto u = static_cast<std::uint64_t>(v);
    put(out, mp_sizeof_uint(u), [u](char* d) { return mp_encode_uint(d, u); });
  } else {
    put(out, mp_sizeof_int(v), [v](char* d) { return mp_encode_int(d, v); });
  }
}
void writeString(std::string& out, std::string_view s) {
  auto n = static_cast<std::uint32_t>(s.size());
  put(out, mp_sizeof_str(n), [&](char* d) { return mp_encode_str(d, s.data(), n); });
}

void writeValue(std::string& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: writeNil(out); return;
    case json::kind::bool_: writeBool(out, v.get_bool()); return;
    case json::kind::int64: writeInt(out, v.get_int64()); return;
    case json::kind::uint64: {
      auto u = v.get_uint64();
      put(out, mp_sizeof_uint(u), [u](char* d) { return mp_encode_uint(d, u); });
      return;
    }
    case json::kind::double_: {
      auto x = v.get_double();
      put(out, mp_sizeof_double(x), [x](char* d) { return mp_encode_double(d, x); });
      return;
    }
    case json::kind::string: writeString(out, v.get_string()); return;
    case json::kind::array: {
      const auto& a = v.get_array();
      writeArrayHeader(out, static_cast<std::uint32_t>(a.size()));
      for (const auto& item : a) writeValue(out, item);
      return;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      writeMapHeader(out, static_cast<std::uint32_t>(o.size()));
      for (const auto& [k, item] : o) {
        writeString(out, k);
        writeValue(out, item);
      }
      return;
    }
  }
}

// Writes InvocationMessage::argumentsJson as MessagePack. The server wrote that text
// itself, so it is an array; anything else would be a bug upstream, sent as no arguments
// rather than thrown at a fan-out. The text is taken as the JSON protocol sends it: bytes
// that are not UTF-8 (a tool's output cut mid-character) pass through as they would have
// as values, and nesting is limited only by what the server accepted in the first place.
// The parsed values live in a monotonic resource (a stack buffer first): they are read
// once, here, and dropped.
void writeArgumentsText(std::string& out, const std::string& text) {
  unsigned char initial[4096];
  boost::json::monotonic_resource scratch(initial, sizeof initial);
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;
  options.max_depth = 1024;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec, &scratch, options);
  if (ec || !v.is_array()) {
    writeArrayHeader(out, 0);
    return;
  }
  writeValue(out, v);
}

void writeBody(const HubMessage& message, std::string& out) {
  std::visit(
      [&out](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, InvocationMessage>) {
          writeArrayHeader(out, 6);
          writeInt(out, 1);
          writeMapHeader(out, 0);
          if (m.invocationId && !m.invocationId->empty())
            writeString(out, *m.invocationId);
          else
            writeNil(out);
          writeString(out, m.target);
          if (m.argumentsJson.empty()) {
            writeValue(out, m.arguments);
          } else {
            writeArgumentsText(out, m.argumentsJson);
          }
          writeArrayHeader(out, static_cast<std::uint32_t>(m.streamIds.size()));
          for (const auto& id : m.streamIds) writeString(out, id);
        } else if constexpr (std::is_same_v<T, StreamItemMessage>) {
          writeArrayHeader(out, 4);
          writeInt(out, 2);
          writeMapHeader(out, 0);
          writeString(out, m.invocationId);
          writeValue(out, m.item);
        } else if constexpr (std::is_same_v<T, CompletionMessage>) {
          bool hasPayload = m.error || m.hasResult;
          writeArrayHeader(out, hasPayload ? 5 : 4);
          writeInt(out, 3);
          writeMapHeader(out, 0);
          writeString(out, m.invocationId);
          if (m.error) {
            writeInt(out, 1);
            writeString(out, *m.error);
          } else if (m.hasResult) {
            writeInt(out, 3);
            writeValue(out, m.result);
          } else {
            writeInt(out, 2);
          }
        } else if constexpr (std::is_same_v<T, StreamInvocationMessage>) {
          writeArrayHeader(out, 6);
          writeInt(out, 4);
          writeMapHeader(out, 0);
          writeString(out, m.invocationId);
          writeString(out, m.target);
          writeValue(out, m.arguments);
          writeArrayHeader(out, static_cast<std::uint32_t>(m.streamIds.size()));
          for (const auto& id : m.streamIds) writeString(out, id);
        } else if constexpr (std::is_same_v<T, CancelInvocationMessage>) {
          writeArrayHeader(out, 3);
          writeInt(out, 5);
          writeMapHeader(out, 0);
          writeString(out, m.invocationId);
        } else if constexpr (std::is_same_v<T, PingMessage>) {
          writeArrayHeader(out, 1);
          writeInt(out, 6);
        } else if constexpr (std::is_same_v<T, CloseMessage>) {
          writeArrayHeader(out, 3);
          writeInt(out, 7);
          if (m.error)
            writeString(out, *m.error);
          else
            writeNil(out);
          writeBool(out, m.allowReconnect);
        } else if constexpr (std::is_same_v<T, AckMessage>) {
          writeArrayHeader(out, 2);
          writeInt(out, 8);
          writeInt(out, m.sequenceId);
        } else if constexpr (std::is_same_v<T, SequenceMessage>) {
          writeArrayHeader(out, 2);
          writeInt(out, 9);
          writeInt(out, m.sequenceId);
        }
      },
      message);
}

}  // namespace

bool MessagePackHubProtocol::decodeOne(std::string_view body, HubMessage& out, bool& skipped,
                                       std::string& error) {
  skipped = false;
  if (body.empty()) {
    error = "Invalid payload.";
    return false;
  }
  {
    // Validate the whole body first (bounded, depth-limited): exactly one value, no
    // trailing bytes, as the JS reader requires. Inbound messages are few; the double
    // pass costs nothing that matters.
    Reader whole{body.data(), body.data() + body.size()};
    json::value ignored;
    if (!readValue(whole, ignored, 0, error)) return false;
    if (whole.more()) {
      error = "Invalid MessagePack data: trailing bytes.";
      return false;
    }
  }
  Reader p{body.data(), body.data() + body.size()};
  if (mp_typeof(*p.p) != MP_ARRAY || mp_check_array(p.p, p.end) > 0) {
    error = "A message must be a MessagePack array.";
    return false;
  }
  auto n = mp_decode_array(&p.p);
  std::int64_t type = 0;
  if (n == 0 || !readInt(p, type)) {
    error = "Invalid message type.";
    return false;
  }
  auto need = [&](std::uint32_t count, const char* what) {
    if (n >= count) return true;
    error = std::string("Invalid payload for ") + what + " message.";
    return false;
  };
  auto fail = [&](const char* what) {
    error = std::string("Invalid payload for ") + what + " message.";
    return false;
  };
  switch (static_cast<MessageType>(type)) {
    case MessageType::Invocation:
    case MessageType::StreamInvocation: {
      const bool stream = type == static_cast<int>(MessageType::StreamInvocation);
      const char* what = stream ? "StreamInvocation" : "Invocation";
      if (!need(5, what)) return false;
      std::optional<std::string> id;
      std::string target;
      json::value args;
      std::vector<std::string> streamIds;
      if (!skipHeaders(p) || !readOptionalString(p, id) || !readString(p, target))
        return fail(what);
      if (!p.more() || mp_typeof(*p.p) != MP_ARRAY || !readValue(p, args, 0, error)) {
        return error.empty() ? fail(what) : false;
      }
      if (n >= 6 && !readStreamIds(p, streamIds)) return fail(what);
      if (stream) {
        if (!id) return fail(what);
        out = StreamInvocationMessage{*id, std::move(target), std::move(args.as_array()),
                                      std::move(streamIds)};
      } else {
        out = InvocationMessage{
            std::move(id), std::move(target), std::move(args.as_array()), std::move(streamIds), {}};
      }
      return true;
    }
    case MessageType::StreamItem: {
      if (!need(4, "StreamItem")) return false;
      StreamItemMessage m;
      if (!skipHeaders(p) || !readString(p, m.invocationId)) return fail("StreamItem");
      if (!readValue(p, m.item, 0, error)) return false;
      out = std::move(m);
      return true;
    }
    case MessageType::Completion: {
      if (!need(4, "Completion")) return false;
      CompletionMessage m;
      std::int64_t kind = 0;
      if (!skipHeaders(p) || !readString(p, m.invocationId) || !readInt(p, kind)) {
        return fail("Completion");
      }
      if (kind == 1) {
        std::string e;
        if (n < 5 || !readString(p, e)) return fail("Completion");
        m.error = std::move(e);
      } else if (kind == 3) {
        if (n < 5 || !readValue(p, m.result, 0, error))
          return error.empty() ? fail("Completion") : false;
        m.hasResult = true;
      } else if (kind != 2) {
        return fail("Completion");
      }
      out = std::move(m);
      return true;
    }
    case MessageType::CancelInvocation: {
      if (!need(3, "CancelInvocation")) return false;
      CancelInvocationMessage m;
      if (!skipHeaders(p) || !readString(p, m.invocationId)) return fail("CancelInvocation");
      out = std::move(m);
      return true;
    }
    case MessageType::Ping: out = PingMessage{}; return true;
    case MessageType::Close: {
      CloseMessage m;
      if (n >= 2) {
        if (!readOptionalString(p, m.error)) return fail("Close");
      }
      if (n >= 3) {
        if (!p.more() || mp_typeof(*p.p) != MP_BOOL) return fail("Close");
        m.allowReconnect = mp_decode_bool(&p.p);
      }
      out = std::move(m);
      return true;
    }
    case MessageType::Ack:
    case MessageType::Sequence: {
      std::int64_t id = 0;
      const char* what = type == 8 ? "Ack" : "Sequence";
      if (!need(2, what) || !readInt(p, id)) return fail(what);
      if (type == 8)
        out = AckMessage{id};
      else
        out = SequenceMessage{id};
      return true;
    }
  }
  skipped = true;
  return true;
}

ParseResult MessagePackHubProtocol::parse(std::string_view input, std::vector<HubMessage>& out,
                                          std::size_t maxMessageSize) const {
  ParseResult result;
  while (result.consumed < input.size()) {
    auto rest = input.substr(result.consumed);
    auto prefix = readVarInt(rest);
    if (prefix.status == VarIntStatus::Incomplete) break;
    if (prefix.status == VarIntStatus::Invalid) {
      result.error = "Messages bigger than 2GB are not supported.";
      return result;
    }
    if (prefix.value > maxMessageSize) {
      result.tooLarge = true;
      result.error =
          "The maximum message size of " + std::to_string(maxMessageSize) + "B was exceeded.";
      return result;
    }
    if (prefix.value == 0) {
      result.error = "Invalid payload.";
      return result;
    }
    if (rest.size() < prefix.bytes + prefix.value) break;
    HubMessage message;
    bool skipped = false;
    if (!decodeOne(rest.substr(prefix.bytes, prefix.value), message, skipped, result.error)) {
      return result;
    }
    result.consumed += prefix.bytes + prefix.value;
    if (!skipped) out.push_back(std::move(message));
  }
  return result;
}

void MessagePackHubProtocol::write(const HubMessage& message, std::string& out) const {
  std::string body;
  writeBody(message, body);
  appendVarInt(out, static_cast<std::uint32_t>(body.size()));
  out += body;
}

}  // namespace herald::protocol
