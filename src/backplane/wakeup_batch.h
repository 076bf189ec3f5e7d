#pragma once
// Holds back writer wake-ups while one thread fans a message out, then releases them
// together. Without it, a broadcast to 1,000 connections from the storage thread woke the
// I/O thread as soon as the first recipient was queued; on a shared core the I/O thread
// then preempted the fan-out again and again (about a hundred context switches per
// broadcast), each time writing only the few sockets queued so far.
//
// Thread safety: a batch belongs to the thread that opened it; defer() only looks at the
// calling thread's batch.
#include <functional>
#include <vector>

namespace herald::backplane {

class WakeupBatch {
 public:
  // Opens a batch on this thread, unless one is open already (the outer one then
  // collects everything).
  WakeupBatch();
  // Runs every deferred flush, in the order first deferred.
  ~WakeupBatch();
  WakeupBatch(const WakeupBatch&) = delete;
  WakeupBatch& operator=(const WakeupBatch&) = delete;

  // Transport side: with a batch open on this thread, keeps `flush` to run when it
  // closes and returns true; otherwise returns false and the caller flushes now.
  static bool defer(std::function<void()> flush);

 private:
  bool owner_ = false;
  std::vector<std::function<void()>> flushes_;
};

}  // namespace herald::backplane
