#pragma once
// Tells long polls that this node queued a job (created, re-queued for retry, given back,
// recovered at start), so a worker waiting in POST /jobs/claim claims it at once instead
// of at its next poll. Jobs queued by other nodes sharing the database send no signal
// here: waiters still poll the store for those, more slowly.
//
// A waiter reads generation() before it looks at the store, and waits with that value:
// a job queued in between (after the look, before the wait) ends the wait at once, so no
// signal is lost.
//
// Thread safety: notify() and generation() from any thread; wait() on any executor (its
// timer lives there, and notify cancels it there).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace herald::jobs {

class QueueSignal {
 public:
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Returns once a job was queued after `seen` (at once if one was already) or `timeout`
  // has passed.
  boost::asio::awaitable<void> wait(std::uint64_t seen,
                                    std::chrono::steady_clock::duration timeout);
  // A job was queued (call after it is committed).
  void notify();
  std::size_t waiters() const;

 private:
  mutable std::mutex mutex_;
  std::atomic<std::uint64_t> generation_{0};
  std::vector<std::shared_ptr<boost::asio::steady_timer>> waiting_;
};

}  // namespace herald::jobs
