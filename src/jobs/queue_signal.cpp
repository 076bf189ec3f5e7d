#include "jobs/queue_signal.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace herald::jobs {

namespace asio = boost::asio;

asio::awaitable<void> QueueSignal::wait(std::uint64_t seen,
                                        std::chrono::steady_clock::duration timeout) {
  auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, timeout);
  {
    std::lock_guard lock(mutex_);
    if (generation_.load(std::memory_order_relaxed) != seen) co_return;
    waiting_.push_back(timer);
  }
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  std::lock_guard lock(mutex_);
  std::erase(waiting_, timer);
}

void QueueSignal::notify() {
  std::vector<std::shared_ptr<asio::steady_timer>> wake;
  {
    std::lock_guard lock(mutex_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    wake.swap(waiting_);
  }
  // Each timer is cancelled on its own executor (a timer is not thread-safe); the
  // shared_ptr keeps it alive until then.
  for (auto& timer : wake) {
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
  }
}

std::size_t QueueSignal::waiters() const {
  std::lock_guard lock(mutex_);
  return waiting_.size();
}

}  // namespace herald::jobs
