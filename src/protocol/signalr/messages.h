#pragma once
// The SignalR hub message model (HubProtocol.md, types 1-9). Payload values are held as
// Boost.JSON values whatever the wire protocol, so hub code sees one representation.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

namespace herald::protocol {

enum class MessageType : int {
  Invocation = 1,
  StreamItem = 2,
  Completion = 3,
  StreamInvocation = 4,
  CancelInvocation = 5,
  Ping = 6,
  Close = 7,
  Ack = 8,
  Sequence = 9,
};

struct InvocationMessage {
  std::optional<std::string> invocationId;  // absent: a non-blocking `send`
  std::string target;
  boost::json::array arguments;
  std::vector<std::string> streamIds;
  // Written by the server only: when not empty, the arguments as the text of one JSON
  // array, used instead of `arguments`. A broadcast's payload is then written once as
  // text (no object built and serialised); the JSON protocol copies it, MessagePack
  // parses it back into values.
  std::string argumentsJson;
};

struct StreamItemMessage {
  std::string invocationId;
  boost::json::value item;
};

struct CompletionMessage {
  std::string invocationId;
  std::optional<std::string> error;
  bool hasResult = false;  // true writes `result` (null included), as .NET does for void methods
  boost::json::value result;
};

struct StreamInvocationMessage {
  std::string invocationId;
  std::string target;
  boost::json::array arguments;
  std::vector<std::string> streamIds;
};

struct CancelInvocationMessage {
  std::string invocationId;
};

struct PingMessage {};

struct CloseMessage {
  std::optional<std::string> error;
  bool allowReconnect = false;
};

struct AckMessage {
  std::int64_t sequenceId = 0;
};

struct SequenceMessage {
  std::int64_t sequenceId = 0;
};

using HubMessage =
    std::variant<InvocationMessage, StreamItemMessage, CompletionMessage, StreamInvocationMessage,
                 CancelInvocationMessage, PingMessage, CloseMessage, AckMessage, SequenceMessage>;

// Messages counted and buffered by stateful reconnect (types 1-5).
bool isTrackable(const HubMessage& message);

}  // namespace herald::protocol
