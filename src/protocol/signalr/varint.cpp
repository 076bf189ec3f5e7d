#include "protocol/signalr/varint.h"

namespace herald::protocol {

VarIntRead readVarInt(std::string_view input) {
  VarIntRead r;
  std::uint32_t value = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    if (i >= input.size()) return r;  // Incomplete
    auto byte = static_cast<std::uint8_t>(input[i]);
    if (i == 4 && byte > 0x07) {
      r.status = VarIntStatus::Invalid;  // would exceed 2^31 - 1
      return r;
    }
    value |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      r.status = VarIntStatus::Ok;
      r.value = value;
      r.bytes = i + 1;
      return r;
    }
  }
  r.status = VarIntStatus::Invalid;
  return r;
}

void appendVarInt(std::string& out, std::uint32_t value) {
  do {
    auto byte = static_cast<std::uint8_t>(value & 0x7F);
    value >>= 7;
    if (value) byte |= 0x80;
    out += static_cast<char>(byte);
  } while (value);
}

}  // namespace herald::protocol
