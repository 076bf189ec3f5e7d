#pragma once
// The session mirror (hub/session_mirror.h) in Redis. Per mirrored connection:
//   herald:session:<sha256(token)>         a hash: id, proto, principal fields, owner,
//                                          epoch, total, g:<group>, j:<jobId> marks
//   herald:session:<sha256(token)>:frames  a sorted set of the unacknowledged frames,
//                                          scored by sequence id
// Keyed by a hash of the connection token, the secret the client reattaches with: the
// connection id is shown to apps and must not be enough to find (or take) a session.
// Both keys expire (Options::ttl) unless their owner refreshes them, so the sessions of
// a dead node that nobody adopts go away by themselves.
//
// Every write runs one Lua script that first checks the epoch: an adoption raises it
// (another script, atomically with reading the session), so a still-running old owner's
// writes are refused from that moment and its writer learns it (MirrorWrite::Fenced)
// before it writes the frames concerned.
//
// Threading: one thread of its own drives a blocking hiredis connection; callers only
// queue (under a mutex, bounded in bytes) and are called back on that thread. Each round
// sends everything queued as one pipeline, so a burst of writes costs one round trip.
// Writes of one session keep their order (one connection, FIFO).
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backplane/redis/redis_options.h"
#include "hub/session_mirror.h"

struct redisContext;
struct redisReply;

namespace herald::cluster {

class RedisSessionMirror final : public hub::SessionMirror {
 public:
  struct Options {
    backplane::redis::RedisOptions address;  // ConnectionStrings:Redis, parsed once
    std::string nodeId;                      // written as the owner (diagnostics)
    // How long a session outlives its owner's last refresh. Longer than the time a client
    // takes to come back (immediately) and than the refresh period (ttl / 3).
    std::chrono::milliseconds ttl{60'000};
    // Bytes of queued writes; past it a write fails at once (its session stops being
    // adoptable) rather than the queue growing while Redis is slow or away.
    std::size_t maxQueuedBytes = 64ULL * 1024 * 1024;
  };

  explicit RedisSessionMirror(Options options);
  ~RedisSessionMirror() override;
  RedisSessionMirror(const RedisSessionMirror&) = delete;
  RedisSessionMirror& operator=(const RedisSessionMirror&) = delete;

  // Connects and loads the scripts, then starts the thread. Throws std::runtime_error
  // with the reason (never the password) when Redis cannot be reached or refuses.
  void start();
  // Sends what is queued (bounded wait), then stops the thread.
  void stop();

  hub::MirrorSessionPtr open(const std::string& token, const hub::SessionState& initial) override;
  void append(const hub::MirrorSessionPtr& session, std::vector<hub::MirroredFrame> frames,
              std::int64_t totalSent, std::function<void(hub::MirrorWrite)> done) override;
  void acknowledge(const hub::MirrorSessionPtr& session, std::int64_t sequence) override;
  void joined(const hub::MirrorSessionPtr& session, const std::string& group) override;
  void left(const hub::MirrorSessionPtr& session, const std::string& group) override;
  void verify(const hub::MirrorSessionPtr& session,
              std::function<void(hub::MirrorWrite)> done) override;
  void close(const hub::MirrorSessionPtr& session) override;
  void adopt(const std::string& token, std::function<void(std::optional<Adopted>)> done) override;

  // The record key of a token (tests).
  static std::string keyOf(const std::string& token);

 private:
  // One command; `done` gets its reply, or nullptr when it was not executed (no
  // connection, queue full). Runs on the mirror thread.
  struct Op {
    std::vector<std::string> argv;
    std::function<void(const redisReply*)> done;
    std::size_t bytes = 0;
  };

  void enqueue(Op op);
  // A fenced write of `ops` (op code and arguments, see the script) to `session`.
  void write(const hub::MirrorSessionPtr& session, std::vector<std::string> ops,
             std::function<void(hub::MirrorWrite)> done);
  void markBroken(const hub::MirrorSessionPtr& session);
  void run();
  bool connect(std::string& error);  // mirror thread (or start, before it)
  void disconnect();
  void refreshAll();

  const Options options_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Op> queue_;
  std::size_t queuedBytes_ = 0;
  bool stopping_ = false;
  // Sessions this node owns, for the TTL refresh.
  std::unordered_map<const hub::MirrorSession*, std::weak_ptr<hub::MirrorSession>> live_;
  // Keys of broken sessions whose record could not be removed yet: removed (fenced by
  // their epoch) after the next successful connect. Mirror thread only once started.
  std::vector<std::pair<std::string, std::int64_t>> deleteLater_;

  // The mirror thread's.
  redisContext* context_ = nullptr;
  std::string writeSha_, createSha_, adoptSha_;
  std::thread thread_;
};

}  // namespace herald::cluster
