#pragma once
// Adoption of stateful-reconnect connections (docs/architecture.md, "Adoption"). A node
// mirrors, outside its own memory, what another node needs to take over a stateful
// connection whose node died: the session (connection id, hub protocol, principal), its
// groups, and the frames its client has not acknowledged yet. When the client's
// reattaching WebSocket reaches a node that does not hold the connection, that node takes
// the session over (atomically: the previous owner is fenced) and carries on with the
// same connection id, groups and replay buffer.
//
// Write-ahead: a numbered frame reaches the mirror before its bytes reach the socket. A
// frame the client holds is then always in the mirror, so the adopter's sequence ids
// line up with the client's; a frame mirrored but never written is simply new to the
// client when the adopter replays it.
//
// Thread safety: implementations are safe to call from any thread; they never block
// (writes are queued and pipelined), and callbacks run on an implementation thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/principal.h"
#include "hub/serialized_message.h"

namespace herald::hub {

// One numbered frame of a stateful connection's replay buffer.
struct MirroredFrame {
  std::int64_t sequence = 0;  // the stateful-reconnect sequence id
  // A job's ordered event: its job and job sequence (empty / 0 for other frames).
  std::string jobId;
  std::int64_t jobSequence = 0;
  FramePtr bytes;
};

// A session as an adopter finds it.
struct SessionState {
  std::string connectionId;
  std::string protocol;  // the hub protocol's name ("json", "messagepack")
  auth::Principal principal;
  std::int64_t totalSent = 0;         // sequence ids given so far
  std::vector<MirroredFrame> frames;  // not acknowledged, in sequence order
  std::set<std::string> groups;
  // Per job: the highest job sequence among the frames ever numbered for this
  // connection. The adopter fills each job group from the store after it.
  std::map<std::string, std::int64_t> jobMarks;
};

// A mirrored session as its owner holds it: the mirror's key and the epoch this node
// owns. Another node's adoption raises the epoch; every later write of the old owner is
// refused (fenced).
struct MirrorSession {
  std::string key;
  std::int64_t epoch = 1;
  // Once a write failed (the mirror unreachable, or the record lost), the mirror may lack
  // frames the client has: the session is no longer adoptable and no longer written.
  std::atomic<bool> broken{false};
};
using MirrorSessionPtr = std::shared_ptr<MirrorSession>;

enum class MirrorWrite {
  Stored,  // the frames are in the mirror: write them
  Failed,  // not stored (mirror unreachable): write them anyway; the session is broken
  Fenced,  // another node adopted the session: write nothing, drop the connection
};

class SessionMirror {
 public:
  virtual ~SessionMirror() = default;

  // A stateful connection completed its handshake: creates its record. `token` is the
  // connection token the client reattaches with (the record's key derives from it).
  virtual MirrorSessionPtr open(const std::string& token, const SessionState& initial) = 0;
  // Frames the writer numbered, before it writes them: `done` says whether it may.
  virtual void append(const MirrorSessionPtr& session, std::vector<MirroredFrame> frames,
                      std::int64_t totalSent, std::function<void(MirrorWrite)> done) = 0;
  virtual void acknowledge(const MirrorSessionPtr& session, std::int64_t sequence) = 0;
  virtual void joined(const MirrorSessionPtr& session, const std::string& group) = 0;
  virtual void left(const MirrorSessionPtr& session, const std::string& group) = 0;
  // Writes nothing: Stored while this node owns the session, Fenced once another node
  // adopted it, Failed when the mirror cannot tell.
  virtual void verify(const MirrorSessionPtr& session, std::function<void(MirrorWrite)> done) = 0;
  // The connection ended here: removes the record (unless another node owns it now).
  virtual void close(const MirrorSessionPtr& session) = 0;

  struct Adopted {
    SessionState state;
    MirrorSessionPtr session;  // owned by the caller from now on
  };
  // Takes over the session of `token`; nullopt when there is none (or the mirror cannot
  // be reached). `done` runs once, on any thread.
  virtual void adopt(const std::string& token,
                     std::function<void(std::optional<Adopted>)> done) = 0;
};

}  // namespace herald::hub
