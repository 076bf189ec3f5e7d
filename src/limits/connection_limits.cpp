#include "limits/connection_limits.h"

#include <functional>

#include "metrics/herald_metrics.h"

namespace herald::limits {

ConnectionLease& ConnectionLease::operator=(ConnectionLease&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::move(other.owner_);
    ipKey_ = std::move(other.ipKey_);
    userId_ = std::move(other.userId_);
  }
  return *this;
}

void ConnectionLease::release() {
  if (!owner_) return;
  owner_->release(*this);
  owner_.reset();
}

std::shared_ptr<ConnectionLimits> ConnectionLimits::create(ConnectionLimitSettings settings) {
  return std::make_shared<ConnectionLimits>(settings);
}

bool ConnectionLimits::tryAdd(Shards& shards, const std::string& key, std::size_t max) {
  auto& shard = shards[std::hash<std::string>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto& n = shard.counts[key];
  if (max != 0 && n >= max) {
    if (n == 0) shard.counts.erase(key);
    return false;
  }
  ++n;
  return true;
}

void ConnectionLimits::remove(Shards& shards, const std::string& key) {
  auto& shard = shards[std::hash<std::string>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.counts.find(key);
  if (it == shard.counts.end()) return;
  if (--it->second == 0) shard.counts.erase(it);  // the map holds only live keys
}

std::size_t ConnectionLimits::count(const Shards& shards, const std::string& key) {
  const auto& shard = shards[std::hash<std::string>{}(key) % kShards];
  std::lock_guard lock(shard.mutex);
  auto it = shard.counts.find(key);
  return it == shard.counts.end() ? 0 : it->second;
}

ConnectionAdmission ConnectionLimits::admit(const std::string& ipKey, const std::string& userId) {
  ConnectionAdmission a;
  const auto before = total_.fetch_add(1, std::memory_order_relaxed);
  if (settings_.maxTotal != 0 && before >= settings_.maxTotal) {
    total_.fetch_sub(1, std::memory_order_relaxed);
    a.refusal = ConnectionRefusal::Total;
    return a;
  }
  if (!tryAdd(byIp_, ipKey, settings_.maxPerIp)) {
    total_.fetch_sub(1, std::memory_order_relaxed);
    a.refusal = ConnectionRefusal::PerIp;
    return a;
  }
  if (!userId.empty() && !tryAdd(byUser_, userId, settings_.maxPerUser)) {
    remove(byIp_, ipKey);
    total_.fetch_sub(1, std::memory_order_relaxed);
    a.refusal = ConnectionRefusal::PerUser;
    return a;
  }
  a.lease.owner_ = shared_from_this();
  a.lease.ipKey_ = ipKey;
  a.lease.userId_ = userId;
  metrics::herald().connectionsOpen.add(1);
  return a;
}

void ConnectionLimits::release(const ConnectionLease& lease) {
  remove(byIp_, lease.ipKey_);
  if (!lease.userId_.empty()) remove(byUser_, lease.userId_);
  total_.fetch_sub(1, std::memory_order_relaxed);
  metrics::herald().connectionsOpen.add(-1);
}

std::size_t ConnectionLimits::countForIp(const std::string& ipKey) const {
  return count(byIp_, ipKey);
}

std::size_t ConnectionLimits::countForUser(const std::string& userId) const {
  return count(byUser_, userId);
}

}  // namespace herald::limits
