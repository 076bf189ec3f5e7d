#pragma once
// A negotiated connection as the HTTP layer sees it: its ids, the transport it uses,
// and the hub state that outlives any single request or socket (long polling between
// polls, a stateful WebSocket between sockets). The ConnectionManager finds them by
// token and disposes of those left inactive longer than DisconnectTimeout.
//
// Threading: the hub handler of a connection runs on its home executor (chosen when
// its first transport request arrives); transport code hops there with runOnHome().
// Fields marked (mutex) are guarded by the manager's mutex.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "auth/principal.h"
#include "hub/connection_handler.h"
#include "limits/connection_limits.h"
#include "transport/cluster_keys.h"

namespace herald::transport {

enum class TransportKind { None, WebSockets, ServerSentEvents, LongPolling };

class HttpConnection {
 public:
  using Clock = std::chrono::steady_clock;

  std::string connectionId;
  std::string token;
  int negotiateVersion = 1;
  bool statefulReconnect = false;  // negotiated
  // Who negotiated the connection (the negotiate request's principal); the hub side
  // (HubConnection) is given it when the first transport request sets it up.
  auth::Principal principal;
  // Its place in the connection limits, given back when it is disposed.
  limits::ConnectionLease lease;

  // Set by the first transport request (under the manager's mutex), then fixed.
  TransportKind transport = TransportKind::None;
  boost::asio::any_io_executor home;
  hub::HubConnectionPtr hub;
  std::unique_ptr<hub::ConnectionHandler> handler;

  // (mutex) liveness for the reaper.
  bool active = false;
  Clock::time_point inactiveSince = Clock::now();
  std::atomic<bool> disposed{false};
  // Bumped by each new WebSocket (stateful) or poll; an older one sees it and yields.
  std::atomic<std::uint64_t> generation{0};
  bool longPollStarted = false;  // the first poll returns at once

  // Stops whichever socket or request currently carries the connection, so a new one
  // can take over (stateful WebSocket reattach, a newer poll). Installed by transports.
  void setDetach(std::function<void()> detach) {
    std::lock_guard lock(detachMutex_);
    detach_ = std::move(detach);
  }
  void detachCurrent() {
    std::function<void()> d;
    {
      std::lock_guard lock(detachMutex_);
      d = std::move(detach_);
      detach_ = nullptr;
    }
    if (d) d();
  }

  // Runs `f()` (an awaitable-returning callable) on the home executor.
  template <class F>
  auto runOnHome(F f) -> decltype(f()) {
    return boost::asio::co_spawn(home, std::move(f), boost::asio::use_awaitable);
  }

 private:
  std::mutex detachMutex_;
  std::function<void()> detach_;
};

using HttpConnectionPtr = std::shared_ptr<HttpConnection>;

enum class AttachResult { Ok, NotFound, Conflict, WrongTransport };

struct Attach {
  AttachResult result = AttachResult::NotFound;
  HttpConnectionPtr connection;
  bool first = false;     // the connection's first transport request: set it up
  bool reattach = false;  // a stateful WebSocket replacing an earlier one
};

class ConnectionManager {
 public:
  // A cluster node's connections get tokens any node can check (cluster_keys.h); `keys`
  // outlives the manager. Null (the default): a lone node, random tokens.
  void setCluster(const ClusterKeys* keys) { cluster_ = keys; }
  const ClusterKeys* cluster() const { return cluster_; }

  // `lease`: the connection's place in the connection limits (held until dispose).
  HttpConnectionPtr create(int negotiateVersion, auth::Principal principal, bool statefulReconnect,
                           limits::ConnectionLease lease = {});
  // A connection negotiated on another node, whose verified token reached this one (a
  // WebSocket connects here): made under the same ids, unless it exists already (two
  // requests raced), in which case that one is returned and `lease` given back.
  HttpConnectionPtr createFromPeer(const TokenClaims& claims, const std::string& token,
                                   auth::Principal principal, limits::ConnectionLease lease);
  HttpConnectionPtr find(const std::string& token) const;
  // Adoption: a connection another node negotiated (and mirrored), registered under its
  // token with its id, already on WebSockets from `executor`. Null when the token is
  // known here already (a second adoption racing this one).
  HttpConnectionPtr adopt(const std::string& token, const std::string& connectionId,
                          auth::Principal principal, const boost::asio::any_io_executor& executor);

  // A transport request for `token`. `executor` becomes the home executor on the
  // first one. Marks the connection active.
  Attach attach(const std::string& token, TransportKind kind,
                const boost::asio::any_io_executor& executor);
  void setActive(const HttpConnectionPtr& c, bool active);

  // Removes the connection (later requests get 404) and ends its hub side on the home
  // executor. Idempotent.
  void dispose(const HttpConnectionPtr& c);

  // Disposes connections inactive for longer than `timeout`. Returns how many.
  std::size_t reap(std::chrono::steady_clock::duration timeout);
  std::vector<HttpConnectionPtr> all() const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, HttpConnectionPtr> byToken_;
  const ClusterKeys* cluster_ = nullptr;
};

}  // namespace herald::transport
