#pragma once
// ConnectionStrings:Redis, in the two forms users have: StackExchange.Redis's
// "host:port,password=…,ssl=false,…" (what the original's appsettings.json holds) and
// "redis://[:password@]host[:port][/db]". Pure: text in, an address or an error out.
#include <string>

namespace herald::cluster {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string password;  // empty: no AUTH
  int database = 0;
};

// Throws std::invalid_argument with a message that never contains the password, for
// malformed text and for what Herald cannot honour (ssl=true: no TLS client here).
RedisAddress parseRedisAddress(const std::string& text);

}  // namespace herald::cluster
