#pragma once
// One logical hub connection: identity, negotiated protocol, group memberships and the
// bounded outbound queue that a transport drains. Hub code only enqueues; the single
// writer (the transport's write loop) takes batches and writes them.
//
// Thread safety: every public member may be called from any thread (the queue is
// guarded by a mutex that is never held across I/O). Owned by shared_ptr: the
// transport and the connection manager hold it; registries hold weak_ptrs.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "hub/serialized_message.h"
#include "protocol/signalr/hub_protocol.h"

namespace herald::hub {

enum class EnqueueResult { Queued, Dropped /* stale ordered event */, Closed, Overflow };

class HubConnection {
 public:
  HubConnection(std::string connectionId, std::string userId, std::size_t maxQueueBytes);

  const std::string& id() const { return id_; }
  const std::string& userId() const { return userId_; }

  // Set once, after the handshake; before that no hub message may be queued.
  void setProtocol(const protocol::HubProtocol* protocol);
  const protocol::HubProtocol* protocol() const;

  // Ordered events (with an OrderKey) at or below the last delivered sequence of their
  // job are dropped; `snapshot` delivers regardless and only raises that mark.
  EnqueueResult send(const SerializedMessage& message, bool snapshot = false);
  // Replay starts here: the next ordered event of `jobId` accepted is > `sequence`.
  void resetSequence(const std::string& jobId, std::int64_t sequence);
  EnqueueResult send(const protocol::HubMessage& message);  // for this connection only
  EnqueueResult sendRaw(FramePtr frame);                     // handshake bytes

  // Writer side. Takes every queued frame (in order). Empty when nothing is queued.
  std::vector<FramePtr> takeQueued();
  // Called (from any thread) when frames become available; the transport installs it.
  void setWakeup(std::function<void()> wakeup);

  // Ends the connection: queues `close` (if given) as the last frame; the writer
  // closes the transport after flushing it. Idempotent.
  void close(std::optional<protocol::CloseMessage> close);
  bool closing() const;
  bool overflowed() const;

  std::chrono::steady_clock::time_point lastEnqueue() const;

  // Group names this connection joined, so disconnect can leave them all.
  void addGroup(const std::string& group);
  void removeGroup(const std::string& group);
  std::set<std::string> groups() const;

  std::uint64_t framesQueued() const;

 private:
  EnqueueResult enqueueLocked(FramePtr frame, std::unique_lock<std::mutex>& lock);

  const std::string id_;
  const std::string userId_;
  const std::size_t maxQueueBytes_;

  mutable std::mutex mutex_;
  const protocol::HubProtocol* protocol_ = nullptr;
  std::vector<FramePtr> queue_;
  std::size_t queuedBytes_ = 0;
  bool closing_ = false;
  bool overflowed_ = false;
  std::function<void()> wakeup_;
  std::unordered_map<std::string, std::int64_t> lastSequence_;  // per job
  std::set<std::string> groups_;
  std::chrono::steady_clock::time_point lastEnqueue_;
  std::uint64_t framesQueued_ = 0;
};

using HubConnectionPtr = std::shared_ptr<HubConnection>;

}  // namespace herald::hub
