#pragma once
// The MessagePack hub protocol's length prefix: unsigned 7-bit groups, little-endian,
// high bit = more, 1-5 bytes, at most 2^31-1 (the 5th byte must be <= 0x07).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::protocol {

enum class VarIntStatus { Ok, Incomplete, Invalid };

struct VarIntRead {
  VarIntStatus status = VarIntStatus::Incomplete;
  std::uint32_t value = 0;
  std::size_t bytes = 0;  // prefix length when Ok
};

VarIntRead readVarInt(std::string_view input);
void appendVarInt(std::string& out, std::uint32_t value);

}  // namespace herald::protocol
