// libFuzzer target: the JSON hub protocol parser on arbitrary bytes, fed whole and in two
// pieces; every message it accepts must survive a write/parse round trip.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/signalr/json_protocol.h"

using namespace herald::protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const JsonHubProtocol json;
  std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<HubMessage> whole;
  auto r = json.parse(input, whole, 4096);
  if (r.consumed > size) __builtin_trap();

  // Split delivery must give the same messages (the transports deliver byte streams).
  if (r.ok() && size > 1) {
    std::vector<HubMessage> split;
    std::string buffer = input.substr(0, size / 2);
    auto a = json.parse(buffer, split, 1 << 20);
    buffer.erase(0, a.consumed);
    buffer += input.substr(size / 2);
    auto b = json.parse(buffer, split, 1 << 20);
    if (a.ok() && b.ok() && split.size() != whole.size()) __builtin_trap();
  }
  for (const auto& m : whole) {
    std::string out;
    json.write(m, out);
    std::vector<HubMessage> again;
    if (!json.parse(out, again, 1 << 24).ok() || again.size() != 1) __builtin_trap();
  }
  return 0;
}
