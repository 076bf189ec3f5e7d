#pragma once
// The "json" hub protocol: one JSON object per message, each followed by 0x1E.
#include "protocol/signalr/hub_protocol.h"

namespace herald::protocol {

inline constexpr char kRecordSeparator = '\x1e';

class JsonHubProtocol final : public HubProtocol {
 public:
  std::string_view name() const override { return "json"; }
  TransferFormat transferFormat() const override { return TransferFormat::Text; }
  bool isVersionSupported(int version) const override { return version >= 1 && version <= 2; }
  ParseResult parse(std::string_view input, std::vector<HubMessage>& out,
                    std::size_t maxMessageSize) const override;
  void write(const HubMessage& message, std::string& out) const override;

  // Decodes one message body (without the separator). Exposed for tests and fuzzing.
  // Returns false with `error` set on malformed input; `skipped` is set for unknown types.
  static bool decodeOne(std::string_view body, HubMessage& out, bool& skipped, std::string& error);
};

}  // namespace herald::protocol
