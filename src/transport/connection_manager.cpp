#include "transport/connection_manager.h"

#include "core/ids.h"

namespace herald::transport {

TransportConnectionPtr ConnectionManager::create(int negotiateVersion, std::string userId) {
  auto c = std::make_shared<TransportConnection>();
  c->connectionId = core::newConnectionId();
  c->token = negotiateVersion >= 1 ? core::newConnectionId() : c->connectionId;
  c->negotiateVersion = negotiateVersion;
  c->userId = std::move(userId);
  std::lock_guard lock(mutex_);
  byToken_[c->token] = c;
  return c;
}

ClaimResult ConnectionManager::claim(const std::string& token, TransportKind kind,
                                     TransportConnectionPtr& out) {
  std::lock_guard lock(mutex_);
  auto it = byToken_.find(token);
  if (it == byToken_.end()) return ClaimResult::NotFound;
  auto& c = it->second;
  if (c->transport != TransportKind::None) {
    return c->transport == kind ? ClaimResult::Conflict : ClaimResult::WrongTransport;
  }
  c->transport = kind;
  out = c;
  return ClaimResult::Ok;
}

void ConnectionManager::remove(const std::string& token) {
  std::lock_guard lock(mutex_);
  byToken_.erase(token);
}

std::size_t ConnectionManager::reapUnattached(std::chrono::steady_clock::duration timeout) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (auto it = byToken_.begin(); it != byToken_.end();) {
    if (it->second->transport == TransportKind::None && now - it->second->createdAt > timeout) {
      it = byToken_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

std::vector<TransportConnectionPtr> ConnectionManager::all() const {
  std::lock_guard lock(mutex_);
  std::vector<TransportConnectionPtr> out;
  out.reserve(byToken_.size());
  for (const auto& [token, c] : byToken_) out.push_back(c);
  return out;
}

std::size_t ConnectionManager::size() const {
  std::lock_guard lock(mutex_);
  return byToken_.size();
}

}  // namespace herald::transport
