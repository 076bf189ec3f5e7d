#include "hub/hub_lifetime_manager.h"

#include "backplane/wakeup_batch.h"

namespace herald::hub {

void HubLifetimeManager::add(const HubConnectionPtr& c) {
  std::lock_guard lock(mutex_);
  connections_[c->id()] = c;
}

namespace {

// Whether a registry entry is `c` itself. Not always: an adopted connection (hub/session_mirror.h)
// may replace a stale copy of the same id on this node, whose removal comes after and must
// leave the new one in place. An expired entry is nobody's: removable.
bool isEntryOf(const std::weak_ptr<HubConnection>& entry, const HubConnectionPtr& c) {
  auto locked = entry.lock();
  return !locked || locked == c;
}

}  // namespace

void HubLifetimeManager::remove(const HubConnectionPtr& c) {
  std::lock_guard lock(mutex_);
  // The connection's groups are read under the registry lock: an addToGroup racing this
  // remove either completed before (its group is left here) or finds the connection
  // gone and adds nothing.
  if (auto it = connections_.find(c->id()); it != connections_.end() && isEntryOf(it->second, c)) {
    connections_.erase(it);
  }
  for (const auto& g : c->groups()) leaveLocked(c, g);
}

void HubLifetimeManager::leaveLocked(const HubConnectionPtr& c, const std::string& group) {
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  auto member = it->second.find(c->id());
  if (member == it->second.end() || !isEntryOf(member->second, c)) return;
  it->second.erase(member);
  if (it->second.empty()) {
    groups_.erase(it);
    if (backplane_) backplane_->unsubscribe(group);
  }
}

bool HubLifetimeManager::addToGroup(const HubConnectionPtr& c, const std::string& group) {
  std::lock_guard lock(mutex_);
  // A connection that already left (disconnect raced the call) must not be re-added.
  if (!connections_.count(c->id())) return true;
  if (!c->addGroup(group, maxGroupsPerConnection_)) return false;
  auto [it, created] = groups_.try_emplace(group);
  it->second[c->id()] = c;
  if (created && backplane_) backplane_->subscribe(group);
  return true;
}

void HubLifetimeManager::removeFromGroup(const HubConnectionPtr& c, const std::string& group) {
  std::lock_guard lock(mutex_);
  c->removeGroup(group);
  leaveLocked(c, group);
}

void HubLifetimeManager::deliverLocal(backplane::Envelope envelope) {
  const auto& target = envelope.target;
  std::vector<HubConnectionPtr> recipients;
  {
    std::lock_guard lock(mutex_);
    auto collect = [&recipients](const Members& members) {
      recipients.reserve(members.size());
      for (const auto& [id, weak] : members) {
        if (auto c = weak.lock()) recipients.push_back(std::move(c));
      }
    };
    switch (target.kind) {
      case backplane::TargetKind::All: collect(connections_); break;
      case backplane::TargetKind::Group:
        if (auto it = groups_.find(target.name); it != groups_.end()) collect(it->second);
        break;
      case backplane::TargetKind::Connection:
        if (auto it = connections_.find(target.name); it != connections_.end()) {
          if (auto c = it->second.lock()) recipients.push_back(std::move(c));
        }
        break;
    }
    ++stats_.messagesPublished;
  }
  received_.inc();
  if (recipients.empty()) return;
  std::optional<OrderKey> key;
  if (envelope.ordering) {
    key = OrderKey{std::move(envelope.ordering->jobId), envelope.ordering->sequence};
  }
  protocol::InvocationMessage message;
  message.target = std::move(envelope.event);
  message.argumentsJson = std::move(envelope.argumentsJson);
  SerializedMessage shared(std::move(message), std::move(key), envelope.recordedAt);
  std::uint64_t queued = 0, stale = 0, overflow = 0;
  {
    backplane::WakeupBatch batch;  // writers start once every recipient has the frame
    for (const auto& c : recipients) {
      switch (c->send(shared)) {
        case EnqueueResult::Queued: ++queued; break;
        case EnqueueResult::Dropped: ++stale; break;
        case EnqueueResult::Overflow: ++overflow; break;
        case EnqueueResult::Closed: break;
      }
    }
  }
  std::lock_guard lock(mutex_);
  stats_.framesQueued += queued;
  stats_.staleDropped += stale;
  stats_.overflows += overflow;
}

std::vector<HubConnectionPtr> HubLifetimeManager::allConnections() const {
  std::vector<HubConnectionPtr> out;
  std::lock_guard lock(mutex_);
  for (const auto& [id, weak] : connections_) {
    if (auto c = weak.lock()) out.push_back(std::move(c));
  }
  return out;
}

std::size_t HubLifetimeManager::connectionCount() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

std::size_t HubLifetimeManager::groupCount() const {
  std::lock_guard lock(mutex_);
  return groups_.size();
}

bool HubLifetimeManager::hasGroup(const std::string& group) const {
  std::lock_guard lock(mutex_);
  return groups_.count(group) != 0;
}

DeliveryStats HubLifetimeManager::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace herald::hub
