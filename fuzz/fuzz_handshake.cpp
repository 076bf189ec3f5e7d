// libFuzzer target: the handshake parser must never crash or read out of bounds, and a
// successful parse must consume no more than it was given.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/signalr/handshake.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto r = herald::protocol::parseHandshakeRequest(input);
  if (r.consumed > size) __builtin_trap();
  return 0;
}
