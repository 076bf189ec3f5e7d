#pragma once
// Counts open connections in total, per IP and per user, and refuses one over a limit.
// A connection holds a ConnectionLease from its negotiate (or its WebSocket upgrade, when
// negotiation is skipped) until it is disposed: one that never connects keeps its place
// until the negotiate reaper disposes of it (SignalR:DisconnectTimeout).
//
// The per-IP count applies to every connection; the per-user count to authenticated
// ones (an anonymous caller has no user: its IP is what identifies it).
//
// Memory: one entry per IP or user with an open connection, removed with its last one.
// Thread safety: all members (sharded mutexes, an atomic total).
#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace herald::limits {

struct ConnectionLimitSettings {
  std::size_t maxTotal = 0;    // 0: no limit
  std::size_t maxPerIp = 0;    // 0: no limit
  std::size_t maxPerUser = 0;  // 0: no limit
};

enum class ConnectionRefusal { None, Total, PerIp, PerUser };

class ConnectionLimits;

// A connection's place in the counts; given back when destroyed (or released).
class ConnectionLease {
 public:
  ConnectionLease() = default;
  ConnectionLease(ConnectionLease&& other) noexcept = default;
  ConnectionLease& operator=(ConnectionLease&& other) noexcept;
  ConnectionLease(const ConnectionLease&) = delete;
  ConnectionLease& operator=(const ConnectionLease&) = delete;
  ~ConnectionLease() { release(); }

  void release();
  bool held() const { return owner_ != nullptr; }

 private:
  friend class ConnectionLimits;
  std::shared_ptr<ConnectionLimits> owner_;
  std::string ipKey_;
  std::string userId_;
};

struct ConnectionAdmission {
  ConnectionRefusal refusal = ConnectionRefusal::None;
  ConnectionLease lease;  // held when admitted
};

class ConnectionLimits : public std::enable_shared_from_this<ConnectionLimits> {
 public:
  // Shared: leases keep the counts alive however long their connections live.
  static std::shared_ptr<ConnectionLimits> create(ConnectionLimitSettings settings);

  // `ipKey`: limits::ipKey of the peer; `userId`: the principal's, empty when anonymous.
  ConnectionAdmission admit(const std::string& ipKey, const std::string& userId);

  std::size_t total() const { return total_.load(std::memory_order_relaxed); }
  std::size_t countForIp(const std::string& ipKey) const;
  std::size_t countForUser(const std::string& userId) const;

  explicit ConnectionLimits(ConnectionLimitSettings settings) : settings_(settings) {}

 private:
  friend class ConnectionLease;
  static constexpr std::size_t kShards = 16;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::size_t> counts;
  };
  using Shards = std::array<Shard, kShards>;

  // Adds one to `key`'s count unless it is at `max` (0: no limit).
  static bool tryAdd(Shards& shards, const std::string& key, std::size_t max);
  static void remove(Shards& shards, const std::string& key);
  static std::size_t count(const Shards& shards, const std::string& key);
  void release(const ConnectionLease& lease);

  const ConnectionLimitSettings settings_;
  std::atomic<std::size_t> total_{0};
  Shards byIp_;
  Shards byUser_;
};

}  // namespace herald::limits
