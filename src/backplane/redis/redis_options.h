#pragma once
// Where Redis is and how to talk to it, parsed from ConnectionStrings:Redis. Pure: no
// I/O, no logging (fuzzed: fuzz/fuzz_redis_options.cpp).
//
// Two forms, the ones users of the original and of other Redis clients already have:
//
//   StackExchange.Redis: "host:port,password=…,ssl=false,abortConnect=false,…"
//     Comma-separated; an item without '=' is an endpoint (host, host:port, [v6]:port);
//     option names are case-insensitive, values trimmed. Honoured: password, user,
//     defaultDatabase, channelPrefix, name (CLIENT SETNAME), abortConnect, connectTimeout
//     (ms), connectRetry, ssl (false only). Accepted and meaning nothing here (they tune
//     StackExchange.Redis's own machinery): allowAdmin, asyncTimeout, syncTimeout,
//     configCheckSeconds, keepAlive, resolveDns, version, setlib, tiebreaker,
//     configChannel. Anything else (ssl=true, sslHost, serviceName, proxy, protocol=resp3,
//     a second endpoint, an unknown name) is refused: a setting Herald cannot honour must
//     stop the start rather than be ignored.
//   URI: "redis://[[user]:password@]host[:port][/db][?option=value&…]"
//     user and password percent-decoded; the query takes the option names above.
//     rediss:// (TLS) and unix:// are refused: the hiredis here (0.14) has no TLS.
//
// Errors throw RedisOptionsError; messages name keys and positions, never values (a value
// may be a password).
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace herald::backplane::redis {

class RedisOptionsError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct RedisOptions {
  std::string host;      // a name or an address literal (without brackets)
  int port = 6379;       // Redis's default port
  std::string user;      // ACL user (Redis 6+); empty: AUTH with the password alone
  std::string password;  // never log it: use describe()
  int database = 0;      // SELECT on each connect
  // Prepended (after "herald:") to every channel name, so several Herald deployments can
  // share one Redis (StackExchange.Redis's channelPrefix).
  std::string channelPrefix;
  std::string clientName;  // CLIENT SETNAME on each connect; empty: not set
  // true (StackExchange.Redis's default): a Redis that cannot be reached at start stops
  // the server; false: the server starts degraded and keeps trying.
  bool abortConnect = true;
  int connectTimeoutMs = 5000;  // StackExchange.Redis's default
  int connectRetry = 3;         // attempts at start before abortConnect gives up
};

// Throws RedisOptionsError on anything that is not one of the forms above (the empty
// string included: the caller decides that empty means "no Redis").
RedisOptions parseRedisConnectionString(std::string_view text);

// For logs and errors: "redis 127.0.0.1:6379 db 0"; never the password.
std::string describe(const RedisOptions& options);

}  // namespace herald::backplane::redis
