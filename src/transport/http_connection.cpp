#include "transport/http_connection.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "core/ids.h"

namespace herald::transport {

HttpConnectionPtr ConnectionManager::create(int negotiateVersion, auth::Principal principal,
                                            bool statefulReconnect, limits::ConnectionLease lease) {
  auto c = std::make_shared<HttpConnection>();
  c->lease = std::move(lease);
  c->connectionId = core::newConnectionId();
  if (cluster_) {
    // A signed token names this node as the owner; version 0 clients use the id as the
    // token, so there the token is the id.
    c->token = cluster_->issueToken(c->connectionId, negotiateVersion, statefulReconnect,
                                    principal.userId, ClusterKeys::unixNow());
    if (negotiateVersion < 1) c->connectionId = c->token;
  } else {
    c->token = negotiateVersion >= 1 ? core::newConnectionId() : c->connectionId;
  }
  c->negotiateVersion = negotiateVersion;
  c->principal = std::move(principal);
  c->statefulReconnect = statefulReconnect;
  std::lock_guard lock(mutex_);
  byToken_[c->token] = c;
  return c;
}

HttpConnectionPtr ConnectionManager::createFromPeer(const TokenClaims& claims,
                                                    const std::string& token,
                                                    auth::Principal principal,
                                                    limits::ConnectionLease lease) {
  auto c = std::make_shared<HttpConnection>();
  c->connectionId = claims.negotiateVersion >= 1 ? claims.connectionId : token;
  c->token = token;
  c->negotiateVersion = claims.negotiateVersion;
  c->statefulReconnect = claims.statefulReconnect;
  c->principal = std::move(principal);
  std::lock_guard lock(mutex_);
  auto [it, inserted] = byToken_.try_emplace(token, c);
  if (inserted) c->lease = std::move(lease);
  return it->second;
}

HttpConnectionPtr ConnectionManager::adopt(const std::string& token,
                                           const std::string& connectionId,
                                           auth::Principal principal,
                                           const boost::asio::any_io_executor& executor) {
  auto c = std::make_shared<HttpConnection>();
  c->connectionId = connectionId;
  c->token = token;
  c->negotiateVersion = 1;
  c->principal = std::move(principal);
  c->statefulReconnect = true;
  c->transport = TransportKind::WebSockets;
  c->home = executor;
  c->active = true;
  std::lock_guard lock(mutex_);
  if (!byToken_.emplace(token, c).second) return nullptr;
  return c;
}

HttpConnectionPtr ConnectionManager::find(const std::string& token) const {
  std::lock_guard lock(mutex_);
  auto it = byToken_.find(token);
  return it == byToken_.end() ? nullptr : it->second;
}

Attach ConnectionManager::attach(const std::string& token, TransportKind kind,
                                 const boost::asio::any_io_executor& executor) {
  Attach a;
  std::lock_guard lock(mutex_);
  auto it = byToken_.find(token);
  if (it == byToken_.end()) return a;
  auto& c = it->second;
  if (c->transport == TransportKind::None) {
    c->transport = kind;
    c->home = executor;
    a.first = true;
  } else if (c->transport != kind) {
    a.result = AttachResult::WrongTransport;
    return a;
  } else if (kind == TransportKind::WebSockets) {
    // A second socket only replaces the first for a stateful connection.
    if (!c->statefulReconnect || !c->hub || !c->hub->statefulReconnect()) {
      a.result = AttachResult::Conflict;
      return a;
    }
    a.reattach = true;
  } else if (kind == TransportKind::ServerSentEvents) {
    a.result = AttachResult::Conflict;
    return a;
  }
  c->active = true;
  a.result = AttachResult::Ok;
  a.connection = c;
  return a;
}

void ConnectionManager::setActive(const HttpConnectionPtr& c, bool active) {
  std::lock_guard lock(mutex_);
  c->active = active;
  if (!active) c->inactiveSince = HttpConnection::Clock::now();
}

void ConnectionManager::dispose(const HttpConnectionPtr& c) {
  if (c->disposed.exchange(true)) return;
  {
    std::lock_guard lock(mutex_);
    byToken_.erase(c->token);
  }
  c->generation++;
  // Once (disposed was false): its place goes back now, however long the object lives.
  c->lease.release();
  if (c->hub) {
    // Graceful if the hub side ended already (a Close is queued); otherwise the
    // transport vanished: nothing more can be delivered.
    c->hub->close(std::nullopt);
  }
  if (c->handler) {
    boost::asio::post(c->home, [c] { c->handler->onClosed(); });
  }
  spdlog::debug("connection {}: disposed", c->connectionId);
}

std::size_t ConnectionManager::reap(std::chrono::steady_clock::duration timeout) {
  std::vector<HttpConnectionPtr> expired;
  {
    auto now = HttpConnection::Clock::now();
    std::lock_guard lock(mutex_);
    for (const auto& [token, c] : byToken_) {
      if (!c->active && now - c->inactiveSince > timeout) expired.push_back(c);
    }
  }
  for (const auto& c : expired) dispose(c);
  return expired.size();
}

std::vector<HttpConnectionPtr> ConnectionManager::all() const {
  std::lock_guard lock(mutex_);
  std::vector<HttpConnectionPtr> out;
  out.reserve(byToken_.size());
  for (const auto& [token, c] : byToken_) out.push_back(c);
  return out;
}

std::size_t ConnectionManager::size() const {
  std::lock_guard lock(mutex_);
  return byToken_.size();
}

}  // namespace herald::transport
