#pragma once
// Who is connected to this node, and which local connections are in which group or
// belong to which user. Implements the backplane's local delivery: a send is
// serialised once per protocol and the same frame is queued on every recipient.
//
// Thread safety: all members are safe from any thread. Registries are guarded by one
// mutex that is held only to copy recipients out; sends happen after unlocking, so
// membership never changes under an iteration.
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backplane/backplane.h"
#include "hub/hub_connection.h"

namespace herald::hub {

struct DeliveryStats {
  std::uint64_t messagesPublished = 0;
  std::uint64_t framesQueued = 0;
  std::uint64_t staleDropped = 0;
  std::uint64_t overflows = 0;
};

class HubLifetimeManager final : public backplane::LocalSink {
 public:
  void add(const HubConnectionPtr& connection);     // after the handshake
  void remove(const HubConnectionPtr& connection);  // leaves all its groups

  void addToGroup(const HubConnectionPtr& connection, const std::string& group);
  void removeFromGroup(const HubConnectionPtr& connection, const std::string& group);

  void deliverLocal(const backplane::Target& target, protocol::InvocationMessage message,
                    std::optional<backplane::Ordering> ordering) override;

  std::vector<HubConnectionPtr> allConnections() const;
  std::size_t connectionCount() const;
  DeliveryStats stats() const;

 private:
  using Members = std::unordered_map<std::string, std::weak_ptr<HubConnection>>;

  mutable std::mutex mutex_;
  Members connections_;
  std::unordered_map<std::string, Members> groups_;
  std::unordered_map<std::string, Members> users_;
  DeliveryStats stats_;
};

}  // namespace herald::hub
