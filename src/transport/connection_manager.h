#pragma once
// Negotiated connections by token (the secret `id` of transport requests) until they
// end, and the reaper for those that never attach a transport (ASP.NET's
// DisconnectTimeout). Version-0 connections use the public id as their token.
//
// Thread safety: all members are safe from any thread.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "hub/hub_connection.h"

namespace herald::transport {

enum class TransportKind { None, WebSockets, ServerSentEvents, LongPolling };

struct TransportConnection {
  std::string connectionId;
  std::string token;
  int negotiateVersion = 1;
  std::string userId;
  std::chrono::steady_clock::time_point createdAt = std::chrono::steady_clock::now();
  TransportKind transport = TransportKind::None;  // set when a transport attaches
  hub::HubConnectionPtr hub;                        // created when a transport attaches
};

using TransportConnectionPtr = std::shared_ptr<TransportConnection>;

enum class ClaimResult { Ok, NotFound, Conflict, WrongTransport };

class ConnectionManager {
 public:
  TransportConnectionPtr create(int negotiateVersion, std::string userId);

  // Attaches `kind` to the connection named by `token`. On Ok, `out` holds it.
  ClaimResult claim(const std::string& token, TransportKind kind, TransportConnectionPtr& out);

  void remove(const std::string& token);
  // Drops connections that never attached within `timeout`. Returns how many.
  std::size_t reapUnattached(std::chrono::steady_clock::duration timeout);
  std::vector<TransportConnectionPtr> all() const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, TransportConnectionPtr> byToken_;
};

}  // namespace herald::transport
