#pragma once
// The codec interface a hub protocol implements. Pure: bytes in, messages or an error out.
//
// Thread safety: implementations are stateless and may be shared across threads.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/signalr/messages.h"

namespace herald::protocol {

enum class TransferFormat { Text, Binary };

struct ParseResult {
  std::size_t consumed = 0;  // bytes of complete messages taken from the input
  std::string error;         // non-empty: the stream is corrupt, close the connection
  bool tooLarge = false;     // a message exceeds the size limit (error is set too)
  bool ok() const { return error.empty(); }
};

class HubProtocol {
 public:
  virtual ~HubProtocol() = default;
  virtual std::string_view name() const = 0;
  virtual TransferFormat transferFormat() const = 0;
  virtual bool isVersionSupported(int version) const = 0;

  // Takes every complete message at the front of `input` and appends it to `out`.
  // Incomplete trailing bytes are left (consumed stops before them). Unknown message
  // types are skipped, as the .NET codecs do. A message (or the unframed remainder)
  // longer than `maxMessageSize` bytes is an error with `tooLarge` set.
  virtual ParseResult parse(std::string_view input, std::vector<HubMessage>& out,
                            std::size_t maxMessageSize) const = 0;

  // Appends one framed message to `out`.
  virtual void write(const HubMessage& message, std::string& out) const = 0;
};

}  // namespace herald::protocol
