// libFuzzer target: the MessagePack hub protocol parser (varint framing + msgpack
// bodies) on arbitrary bytes; accepted messages must round-trip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/signalr/msgpack_protocol.h"

using namespace herald::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const MessagePackHubProtocol mp;
  std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<HubMessage> out;
  auto r = mp.parse(input, out, 4096);
  if (r.consumed > size) __builtin_trap();
  for (const auto& m : out) {
    std::string bytes;
    mp.write(m, bytes);
    std::vector<HubMessage> again;
    if (!mp.parse(bytes, again, 1 << 24).ok() || again.size() != 1) __builtin_trap();
  }
  return 0;
}
