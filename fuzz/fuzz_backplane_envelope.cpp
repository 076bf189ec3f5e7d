// libFuzzer target: the backplane envelope decoder reads bytes from other nodes. It must
// never crash or read out of bounds, and what it accepts must re-encode to exactly the
// same bytes (the format has one spelling per envelope, so nothing is lost or added in
// transit).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "backplane/envelope.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto envelope = herald::backplane::decodeEnvelope(input);
  if (envelope && herald::backplane::encodeEnvelope(*envelope) != input) __builtin_trap();
  return 0;
}
