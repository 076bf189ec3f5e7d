#pragma once
// Who is connected to this node, and which local connections are in which group.
// Implements the backplane's local delivery: a send is serialised once per protocol and
// the same frame is queued on every recipient. Users are not a registry of their own:
// the app joins a connection to its user's group, so targeting a user is targeting a
// group (one mechanism, one subscription per node).
//
// A group's first local member subscribes this node to it on the backplane and its
// last leaver unsubscribes, so a networked backplane only brings this node the groups
// it serves.
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
#include "metrics/herald_metrics.h"

namespace herald::hub {

struct DeliveryStats {
  std::uint64_t messagesPublished = 0;
  std::uint64_t framesQueued = 0;
  std::uint64_t staleDropped = 0;
  std::uint64_t overflows = 0;
};

class HubLifetimeManager final : public backplane::LocalSink {
 public:
  // `backplane` (optional, not owned, must outlive this) is told of node-level group
  // interest.
  explicit HubLifetimeManager(backplane::Backplane* backplane = nullptr) : backplane_(backplane) {}

  void add(const HubConnectionPtr& connection);     // after the handshake
  void remove(const HubConnectionPtr& connection);  // leaves all its groups

  // Joins `group`. False (nothing joined) when the connection is in
  // maxGroupsPerConnection groups already; true when it joined or was a member (or left
  // already: a disconnect that raced the call).
  bool addToGroup(const HubConnectionPtr& connection, const std::string& group);
  // Limits:MaxGroupsPerConnection (0: no limit). Set at start-up, before connections.
  void setMaxGroupsPerConnection(std::size_t max) { maxGroupsPerConnection_ = max; }
  void removeFromGroup(const HubConnectionPtr& connection, const std::string& group);

  void deliverLocal(backplane::Envelope envelope) override;

  std::vector<HubConnectionPtr> allConnections() const;
  std::size_t connectionCount() const;
  std::size_t groupCount() const;
  // Whether `group` has a member on this node.
  bool hasGroup(const std::string& group) const;
  DeliveryStats stats() const;

 private:
  using Members = std::unordered_map<std::string, std::weak_ptr<HubConnection>>;

  void leaveLocked(const HubConnectionPtr& connection, const std::string& group);

  backplane::Backplane* const backplane_;
  std::size_t maxGroupsPerConnection_ = 0;
  mutable std::mutex mutex_;
  Members connections_;
  std::unordered_map<std::string, Members> groups_;
  DeliveryStats stats_;
  metrics::Counter& received_ = metrics::herald().backplane.with({"received"});
};

}  // namespace herald::hub
