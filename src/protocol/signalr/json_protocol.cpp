#include "protocol/signalr/json_protocol.h"

#include <cmath>

#include <boost/json/parse.hpp>

#include "core/json_text.h"

namespace herald::protocol {
namespace {

namespace json = boost::json;

// Reads an optional string property; false when present with the wrong type.
bool readOptionalString(const json::object& obj, std::string_view key,
                        std::optional<std::string>& out) {
  auto* v = obj.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string()) return false;
  out = std::string(v->as_string());
  return true;
}

bool readRequiredString(const json::object& obj, std::string_view key, std::string& out,
                        std::string& error) {
  auto* v = obj.if_contains(key);
  if (!v) {
    error = "Missing required property '" + std::string(key) + "'.";
    return false;
  }
  if (!v->is_string()) {
    error = "Expected '" + std::string(key) + "' to be of type String.";
    return false;
  }
  out = std::string(v->as_string());
  return true;
}

bool readStreamIds(const json::object& obj, std::vector<std::string>& out, std::string& error) {
  auto* v = obj.if_contains("streamIds");
  if (!v || v->is_null()) return true;
  if (!v->is_array()) {
    error = "Expected 'streamIds' to be of type Array.";
    return false;
  }
  for (const auto& id : v->as_array()) {
    if (!id.is_string()) {
      error = "Expected 'streamIds' to contain strings.";
      return false;
    }
    out.emplace_back(id.as_string());
  }
  return true;
}

bool readArguments(const json::object& obj, json::array& out, std::string& error) {
  auto* v = obj.if_contains("arguments");
  if (!v) {
    error = "Missing required property 'arguments'.";
    return false;
  }
  if (!v->is_array()) {
    error = "Expected 'arguments' to be of type Array.";
    return false;
  }
  out = v->as_array();
  return true;
}

bool readInteger(const json::value& v, std::int64_t& out) {
  if (v.is_int64()) {
    out = v.as_int64();
    return true;
  }
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    out = static_cast<std::int64_t>(v.as_uint64());
    return true;
  }
  // Range first: converting an out-of-range double to an integer is undefined.
  if (v.is_double()) {
    double d = v.as_double();
    if (d >= -9.2e18 && d <= 9.2e18 && d == std::floor(d)) {
      out = static_cast<std::int64_t>(d);
      return true;
    }
  }
  return false;
}

// Writes a JSON string literal (quoted, escaped).
void appendString(std::string& out, std::string_view s) { core::appendJsonString(out, s); }

}  // namespace

bool JsonHubProtocol::decodeOne(std::string_view body, HubMessage& out, bool& skipped,
                                std::string& error) {
  skipped = false;
  boost::system::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec) {
    error = "Error reading JSON: " + ec.message();
    return false;
  }
  if (!value.is_object()) {
    error = "Message is not a JSON object.";
    return false;
  }
  const auto& obj = value.as_object();
  auto* typeValue = obj.if_contains("type");
  std::int64_t type = 0;
  if (!typeValue) {
    error = "Missing required property 'type'.";
    return false;
  }
  if (!readInteger(*typeValue, type)) {
    error = "Expected 'type' to be of type Integer.";
    return false;
  }

  switch (static_cast<MessageType>(type)) {
    case MessageType::Invocation: {
      InvocationMessage m;
      if (!readOptionalString(obj, "invocationId", m.invocationId)) {
        error = "Expected 'invocationId' to be of type String.";
        return false;
      }
      if (m.invocationId && m.invocationId->empty()) m.invocationId.reset();
      if (!readRequiredString(obj, "target", m.target, error)) return false;
      if (!readArguments(obj, m.arguments, error)) return false;
      if (!readStreamIds(obj, m.streamIds, error)) return false;
      out = std::move(m);
      return true;
    }
    case MessageType::StreamInvocation: {
      StreamInvocationMessage m;
      if (!readRequiredString(obj, "invocationId", m.invocationId, error)) return false;
      if (!readRequiredString(obj, "target", m.target, error)) return false;
      if (!readArguments(obj, m.arguments, error)) return false;
      if (!readStreamIds(obj, m.streamIds, error)) return false;
      out = std::move(m);
      return true;
    }
    case MessageType::StreamItem: {
      StreamItemMessage m;
      if (!readRequiredString(obj, "invocationId", m.invocationId, error)) return false;
      auto* item = obj.if_contains("item");
      if (!item) {
        error = "Missing required property 'item'.";
        return false;
      }
      m.item = *item;
      out = std::move(m);
      return true;
    }
    case MessageType::Completion: {
      CompletionMessage m;
      if (!readRequiredString(obj, "invocationId", m.invocationId, error)) return false;
      auto* result = obj.if_contains("result");
      auto* err = obj.if_contains("error");
      if (result && err) {
        error = "The 'error' and 'result' properties are mutually exclusive.";
        return false;
      }
      if (err) {
        if (!err->is_string()) {
          error = "Expected 'error' to be of type String.";
          return false;
        }
        m.error = std::string(err->as_string());
      }
      if (result) {
        m.hasResult = true;
        m.result = *result;
      }
      out = std::move(m);
      return true;
    }
    case MessageType::CancelInvocation: {
      CancelInvocationMessage m;
      if (!readRequiredString(obj, "invocationId", m.invocationId, error)) return false;
      out = std::move(m);
      return true;
    }
    case MessageType::Ping: out = PingMessage{}; return true;
    case MessageType::Close: {
      CloseMessage m;
      if (!readOptionalString(obj, "error", m.error)) {
        error = "Expected 'error' to be of type String.";
        return false;
      }
      if (auto* ar = obj.if_contains("allowReconnect"); ar && ar->is_bool()) {
        m.allowReconnect = ar->as_bool();
      }
      out = std::move(m);
      return true;
    }
    case MessageType::Ack:
    case MessageType::Sequence: {
      auto* seq = obj.if_contains("sequenceId");
      std::int64_t id = 0;
      if (!seq || !readInteger(*seq, id)) {
        error = "Expected 'sequenceId' to be of type Integer.";
        return false;
      }
      if (type == static_cast<int>(MessageType::Ack)) {
        out = AckMessage{id};
      } else {
        out = SequenceMessage{id};
      }
      return true;
    }
  }
  skipped = true;  // unknown type: ignored, as the .NET codec does
  return true;
}

ParseResult JsonHubProtocol::parse(std::string_view input, std::vector<HubMessage>& out,
                                   std::size_t maxMessageSize) const {
  ParseResult result;
  while (true) {
    auto rest = input.substr(result.consumed);
    // Look no further than the limit: a message that does not end within it is
    // rejected without scanning (or buffering) the rest.
    auto window = rest.substr(0, maxMessageSize + 1);
    auto sep = window.find(kRecordSeparator);
    if (sep == std::string_view::npos) {
      if (rest.size() > maxMessageSize) {
        result.tooLarge = true;
        result.error =
            "The maximum message size of " + std::to_string(maxMessageSize) + "B was exceeded.";
      }
      break;
    }
    HubMessage message;
    bool skipped = false;
    if (!decodeOne(rest.substr(0, sep), message, skipped, result.error)) return result;
    result.consumed += sep + 1;
    if (!skipped) out.push_back(std::move(message));
  }
  return result;
}

void JsonHubProtocol::write(const HubMessage& message, std::string& out) const {
  // Property order follows the .NET server: type first. `invocationId` is left out
  // when empty because the JS parser rejects null or "".
  std::visit(
      [&out](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, InvocationMessage>) {
          out += "{\"type\":1,";
          if (m.invocationId && !m.invocationId->empty()) {
            out += "\"invocationId\":";
            appendString(out, *m.invocationId);
            out += ',';
          }
          out += "\"target\":";
          appendString(out, m.target);
          out += ",\"arguments\":";
          if (m.argumentsJson.empty())
            core::appendJson(out, m.arguments);
          else
            out += m.argumentsJson;
          if (!m.streamIds.empty()) {
            out += ",\"streamIds\":[";
            for (std::size_t i = 0; i < m.streamIds.size(); ++i) {
              if (i) out += ',';
              appendString(out, m.streamIds[i]);
            }
            out += ']';
          }
          out += '}';
        } else if constexpr (std::is_same_v<T, StreamItemMessage>) {
          out += "{\"type\":2,\"invocationId\":";
          appendString(out, m.invocationId);
          out += ",\"item\":";
          core::appendJson(out, m.item);
          out += '}';
        } else if constexpr (std::is_same_v<T, CompletionMessage>) {
          out += "{\"type\":3,\"invocationId\":";
          appendString(out, m.invocationId);
          if (m.error) {
            out += ",\"error\":";
            appendString(out, *m.error);
          } else if (m.hasResult) {
            out += ",\"result\":";
            core::appendJson(out, m.result);
          }
          out += '}';
        } else if constexpr (std::is_same_v<T, StreamInvocationMessage>) {
          out += "{\"type\":4,\"invocationId\":";
          appendString(out, m.invocationId);
          out += ",\"target\":";
          appendString(out, m.target);
          out += ",\"arguments\":";
          core::appendJson(out, m.arguments);
          out += '}';
        } else if constexpr (std::is_same_v<T, CancelInvocationMessage>) {
          out += "{\"type\":5,\"invocationId\":";
          appendString(out, m.invocationId);
          out += '}';
        } else if constexpr (std::is_same_v<T, PingMessage>) {
          out += "{\"type\":6}";
        } else if constexpr (std::is_same_v<T, CloseMessage>) {
          out += "{\"type\":7";
          if (m.error) {
            out += ",\"error\":";
            appendString(out, *m.error);
          }
          if (m.allowReconnect) out += ",\"allowReconnect\":true";
          out += '}';
        } else if constexpr (std::is_same_v<T, AckMessage>) {
          out += "{\"type\":8,\"sequenceId\":" + std::to_string(m.sequenceId) + "}";
        } else if constexpr (std::is_same_v<T, SequenceMessage>) {
          out += "{\"type\":9,\"sequenceId\":" + std::to_string(m.sequenceId) + "}";
        }
      },
      message);
  out += kRecordSeparator;
}

}  // namespace herald::protocol
