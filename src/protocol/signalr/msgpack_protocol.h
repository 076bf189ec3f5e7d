#pragma once
// The "messagepack" hub protocol: each message is VarInt(length) + one MessagePack
// array (layouts in signalr-protocol.md 5.2). Values are converted to and from
// Boost.JSON so hub code sees one representation: bin becomes a base64 string and a
// timestamp (ext -1) an ISO-8601 string; other ext values become null.
//
// Written for what every client reads: Invocation always has 6 elements (signalrcore
// reads streamIds unconditionally), Close always 3, and no ext types are ever written
// (the C++ client rejects them).
#include "protocol/signalr/hub_protocol.h"

namespace herald::protocol {

class MessagePackHubProtocol final : public HubProtocol {
 public:
  std::string_view name() const override { return "messagepack"; }
  TransferFormat transferFormat() const override { return TransferFormat::Binary; }
  bool isVersionSupported(int version) const override { return version >= 1 && version <= 2; }
  ParseResult parse(std::string_view input, std::vector<HubMessage>& out,
                    std::size_t maxMessageSize) const override;
  void write(const HubMessage& message, std::string& out) const override;

  // Decodes one message body (no length prefix). Exposed for tests and fuzzing.
  static bool decodeOne(std::string_view body, HubMessage& out, bool& skipped, std::string& error);
};

}  // namespace herald::protocol
