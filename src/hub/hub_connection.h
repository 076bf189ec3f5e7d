#pragma once
// One logical hub connection: identity, negotiated protocol, group memberships and the
// bounded outbound queue that a transport drains. Hub code only enqueues; the single
// writer (the attached transport) takes batches and writes them.
//
// With stateful reconnect on, every trackable frame the writer takes is numbered and
// kept until the client acknowledges it, so that a new socket can replay what the old
// one may have lost (signalr-protocol.md section 7).
//
// Thread safety: every public member may be called from any thread (the state is
// guarded by a mutex that is never held across I/O or a callback). Owned by
// shared_ptr: the transport connection holds it; registries hold weak_ptrs.
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/principal.h"
#include "hub/serialized_message.h"
#include "hub/session_mirror.h"
#include "protocol/signalr/hub_protocol.h"

namespace herald::hub {

enum class EnqueueResult { Queued, Dropped /* stale ordered event */, Closed, Overflow };

// How an ordered (per-job) event is offered to a connection. Either way it is dropped
// at or below the last sequence of its job this connection was given.
enum class SendMode {
  Live,    // a published update or a snapshot: held while its job replays
  Replay,  // a history entry between beginReplay and endReplay
};

class HubConnection {
 public:
  // `principal`: who negotiated this connection (fixed for its life).
  HubConnection(std::string connectionId, auth::Principal principal, std::size_t maxQueueBytes);
  // Shorthand (tests): a principal with just this user id, authenticated when non-empty.
  HubConnection(std::string connectionId, std::string userId, std::size_t maxQueueBytes);

  const std::string& id() const { return id_; }
  const auth::Principal& principal() const { return principal_; }
  // The transport's name (websockets, serversentevents, longpolling), for metrics. Set
  // once, before the connection is shared.
  void setTransport(const char* name) { transport_ = name; }
  const char* transport() const { return transport_; }
  // The principal's user id; empty for an anonymous connection (no user group).
  const std::string& userId() const { return principal_.userId; }

  // Set once, at the handshake; before that no hub message may be queued.
  void setProtocol(const protocol::HubProtocol* protocol);
  const protocol::HubProtocol* protocol() const;
  bool binary() const;

  // Ordered events (with an OrderKey) follow `mode` (see SendMode); others are queued.
  EnqueueResult send(const SerializedMessage& message, SendMode mode = SendMode::Live);
  // Replay of a job's history after `afterSequence`. The subscriber joins the job's
  // group first (so nothing published meanwhile, on any node, is missed), then replays
  // the stored history page by page with SendMode::Replay. Until endReplay, live events
  // of the job are held (their bytes count toward the queue limit); endReplay releases
  // the held ones newer than the last entry replayed, in sequence order.
  void beginReplay(const std::string& jobId, std::int64_t afterSequence);
  void endReplay(const std::string& jobId);
  // A new subscription without replay: the next event of the job (the snapshot, or a
  // live update that beat it) is delivered whatever sequence this connection saw before.
  void restartSequence(const std::string& jobId);
  // Bytes queued for the writer and not yet taken (a replay paces itself on this).
  std::size_t queuedBytes() const;
  std::size_t maxQueueBytes() const { return maxQueueBytes_; }
  EnqueueResult send(const protocol::HubMessage& message);  // for this connection only
  EnqueueResult sendRaw(FramePtr frame);                    // handshake bytes

  // Writer side. Takes every queued frame (in order). Empty when nothing is queued.
  // `oldestRecordedAt` (optional) receives the earliest recordedAt stamp among the frames
  // taken (0 if none is stamped): the writer observes the delivery latency once per batch.
  std::vector<FramePtr> takeQueued(std::int64_t* oldestRecordedAt = nullptr);
  // The same, appended to `out` (a writer's reused vector); `binary` tells the frames'
  // transfer format. Stops once `maxBytes` are taken (at least one frame is): a writer
  // that sends a batch as one transport message keeps that message bounded. Returns
  // closing() when the queue is now empty, read under the same lock: the writer needs
  // both after every write.
  bool takeQueued(std::vector<FramePtr>& out, bool& binary,
                  std::size_t maxBytes = std::numeric_limits<std::size_t>::max(),
                  std::int64_t* oldestRecordedAt = nullptr);
  // Called (from any thread, without locks held) when frames become available or the
  // connection starts closing; the attached transport installs it.
  void setWakeup(std::function<void()> wakeup);

  // Ends the connection: queues `close` (if given) as the last frame; the writer
  // closes the transport after flushing it. Idempotent.
  void close(std::optional<protocol::CloseMessage> close);
  bool closing() const;
  bool overflowed() const;

  // Stateful reconnect (server side of the message buffer).
  void enableStatefulReconnect();
  bool statefulReconnect() const;
  void acknowledge(std::int64_t sequenceId);  // the client's Ack
  // A new socket replaces the old one: puts Sequence(first unacknowledged) and the
  // unacknowledged frames at the front of the queue, before anything still queued.
  void prepareReplay();

  // Adoption (hub/session_mirror.h). From now on every frame the writer numbers is
  // mirrored before it is written, and Acks and group changes are mirrored too.
  void attachMirror(std::shared_ptr<SessionMirror> mirror, MirrorSessionPtr session);
  // Writer side, after takeQueued: hands the frames numbered since the last call to the
  // mirror. True: `done` runs (any thread) once they are stored or refused, and the
  // writer must not write them before. False: nothing to wait for.
  bool mirrorTaken(std::function<void(MirrorWrite)> done);
  // Whether a mirror is attached; lock-free, so the writer of an unmirrored connection
  // pays one load per batch and builds no callback.
  bool mirrored() const { return mirrored_.load(std::memory_order_acquire); }
  // The connection ended on this node: its record goes (unless another node adopted it).
  void detachMirror();
  // Graceful shutdown of this node: a mirrored stateful connection is not closed with a
  // Close message (the client would make a new connection) but handed over: its queue is
  // written out (numbered and mirrored as always), then its socket closes bare, so the
  // client reattaches through the balancer and another node adopts it; the record is
  // kept. False (nothing done) when the connection is not mirrored.
  bool handOver();
  bool handingOver() const;
  // Whether this node still owns the mirrored session: `done` gets Stored when it does,
  // Fenced when another node adopted it. False (nothing called): not mirrored.
  bool checkMirror(std::function<void(MirrorWrite)> done);
  // An adopted connection takes over what its previous node mirrored: stateful reconnect
  // on, the unacknowledged frames as its replay buffer, the sequence ids given so far.
  void restore(const SessionState& state);
  // The connection token its client reattaches with (set only when a mirror exists).
  void setToken(std::string token);
  const std::string& token() const;

  // Frames queued so far. The connection handler compares it between its ticks to know
  // whether anything was sent (keep-alive): a counter rather than a timestamp, so the
  // fan-out reads no clock per recipient and the handler's injected clock alone decides.
  std::uint64_t enqueuedCount() const;

  // Group names this connection joined, so disconnect can leave them all. Adding a new
  // one fails when the connection is in `maxGroups` already (0: no limit).
  bool addGroup(const std::string& group, std::size_t maxGroups = 0);
  std::size_t groupCount() const;
  void removeGroup(const std::string& group);
  std::set<std::string> groups() const;

 private:
  struct OutFrame {
    FramePtr bytes;
    bool trackable;
    std::int64_t recordedAt = 0;  // SerializedMessage::recordedAt
    bool requeued = false;        // a replay buffer entry put back by prepareReplay
    // A job's ordered event, kept only when the connection is mirrored (the adopter's
    // per-job marks); other connections pay nothing for it.
    std::string jobId{};
    std::int64_t jobSequence = 0;
  };
  struct Buffered {
    std::int64_t sequence;
    FramePtr bytes;
  };

  EnqueueResult enqueueLocked(OutFrame frame, std::unique_lock<std::mutex>& lock);
  // Bytes this connection holds for its client: queued, held during a replay, and sent
  // but not acknowledged (stateful reconnect). MaxOutboundQueueBytes bounds this sum.
  std::size_t outstandingLocked() const;
  // Per-job order: raises the job's mark to `key` and returns true, or returns false for
  // an event at or below what this connection was already given.
  bool advanceLocked(const OrderKey& key);

  const std::string id_;
  const auth::Principal principal_;
  const std::size_t maxQueueBytes_;
  const char* transport_ = "websockets";

  mutable std::mutex mutex_;
  const protocol::HubProtocol* protocol_ = nullptr;
  std::vector<OutFrame> queue_;
  std::size_t queuedBytes_ = 0;
  bool closing_ = false;
  bool overflowed_ = false;
  // Shared, not copied: a fan-out calls it once per recipient, and copying a
  // std::function (with its captures) cost more than the rest of the enqueue.
  std::shared_ptr<const std::function<void()>> wakeup_;
  std::unordered_map<std::string, std::int64_t> lastSequence_;  // per job
  // Live events held while their job replays (see beginReplay), per job.
  struct Held {
    std::int64_t sequence;
    OutFrame frame;
  };
  std::unordered_map<std::string, std::vector<Held>> held_;
  std::size_t heldBytes_ = 0;
  std::set<std::string> groups_;
  std::uint64_t enqueued_ = 0;

  bool stateful_ = false;
  std::int64_t totalSent_ = 0;
  // Made only when stateful reconnect is on: libstdc++'s deque allocates ~600 bytes
  // as soon as it is constructed, and most connections never buffer anything.
  std::unique_ptr<std::deque<Buffered>> replay_;
  std::size_t replayBytes_ = 0;
  // Bytes of replay buffer entries that prepareReplay put back in queue_ and the writer
  // has not taken yet: counted in both queuedBytes_ and replayBytes_.
  std::size_t requeuedBytes_ = 0;

  // Adoption: made only on a node with a mirror, so other connections carry one null
  // pointer for it.
  struct MirrorLink {
    std::string token;
    std::shared_ptr<SessionMirror> mirror;  // null until the handshake (or the adoption)
    MirrorSessionPtr session;
    std::vector<MirroredFrame> unmirrored;  // numbered by takeQueued, not handed over yet
  };
  bool mirroredLocked() const { return link_ && link_->mirror; }
  bool handingOver_ = false;
  std::atomic<bool> mirrored_{false};
  std::unique_ptr<MirrorLink> link_;
};

using HubConnectionPtr = std::shared_ptr<HubConnection>;

}  // namespace herald::hub
