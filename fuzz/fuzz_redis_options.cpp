// libFuzzer target: ConnectionStrings:Redis comes from configuration (files, environment),
// which is not a network peer, but the parser must still never crash or read out of
// bounds on any text, and whatever it accepts must be usable: a host, a port in range, a
// database that is not negative.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "backplane/redis/redis_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  try {
    auto o = herald::backplane::redis::parseRedisConnectionString(input);
    if (o.host.empty() || o.port < 1 || o.port > 65535 || o.database < 0) __builtin_trap();
    (void)herald::backplane::redis::describe(o);
  } catch (const herald::backplane::redis::RedisOptionsError&) {
  }
  return 0;
}
