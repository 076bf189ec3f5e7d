#include "hub/hub_connection.h"

#include <algorithm>

namespace herald::hub {

HubConnection::HubConnection(std::string connectionId, std::string userId,
                             std::size_t maxQueueBytes)
    : id_(std::move(connectionId)),
      userId_(std::move(userId)),
      maxQueueBytes_(maxQueueBytes),
      lastEnqueue_(std::chrono::steady_clock::now()) {}

void HubConnection::setProtocol(const protocol::HubProtocol* protocol) {
  std::lock_guard lock(mutex_);
  protocol_ = protocol;
}

const protocol::HubProtocol* HubConnection::protocol() const {
  std::lock_guard lock(mutex_);
  return protocol_;
}

EnqueueResult HubConnection::enqueueLocked(FramePtr frame, std::unique_lock<std::mutex>& lock) {
  if (closing_) return EnqueueResult::Closed;
  if (queuedBytes_ + frame->size() > maxQueueBytes_ && !queue_.empty()) {
    // Slow consumer: the policy is to end this connection (the client reconnects and
    // catches up from the store with afterSequence) rather than grow without bound.
    overflowed_ = true;
    closing_ = true;
  }
  bool wasEmpty = queue_.empty();
  if (!overflowed_) {
    queuedBytes_ += frame->size();
    queue_.push_back(std::move(frame));
    ++framesQueued_;
    lastEnqueue_ = std::chrono::steady_clock::now();
  }
  auto wakeup = (wasEmpty || overflowed_) ? wakeup_ : std::function<void()>{};
  auto result = overflowed_ ? EnqueueResult::Overflow : EnqueueResult::Queued;
  lock.unlock();
  if (wakeup) wakeup();
  return result;
}

void HubConnection::resetSequence(const std::string& jobId, std::int64_t sequence) {
  std::lock_guard lock(mutex_);
  lastSequence_[jobId] = sequence;
}

EnqueueResult HubConnection::send(const SerializedMessage& message, bool snapshot) {
  std::unique_lock lock(mutex_);
  if (!protocol_ || closing_) return EnqueueResult::Closed;
  if (const auto& key = message.orderKey()) {
    auto& last = lastSequence_[key->jobId];
    if (key->sequence <= last && !snapshot) return EnqueueResult::Dropped;
    last = std::max(last, key->sequence);
  }
  auto* protocol = protocol_;
  // Serialisation happens at most once per protocol for the whole fan-out; it takes
  // the message's own lock, never ours, so release ours meanwhile.
  lock.unlock();
  auto frame = message.frameFor(*protocol);
  lock.lock();
  return enqueueLocked(std::move(frame), lock);
}

EnqueueResult HubConnection::send(const protocol::HubMessage& message) {
  std::unique_lock lock(mutex_);
  if (!protocol_ || closing_) return EnqueueResult::Closed;
  auto frame = std::make_shared<Frame>();
  protocol_->write(message, *frame);
  return enqueueLocked(std::move(frame), lock);
}

EnqueueResult HubConnection::sendRaw(FramePtr frame) {
  std::unique_lock lock(mutex_);
  return enqueueLocked(std::move(frame), lock);
}

std::vector<FramePtr> HubConnection::takeQueued() {
  std::lock_guard lock(mutex_);
  std::vector<FramePtr> out;
  out.swap(queue_);
  queuedBytes_ = 0;
  return out;
}

void HubConnection::setWakeup(std::function<void()> wakeup) {
  std::unique_lock lock(mutex_);
  wakeup_ = std::move(wakeup);
  bool pending = !queue_.empty() || closing_;
  auto w = wakeup_;
  lock.unlock();
  if (pending && w) w();
}

void HubConnection::close(std::optional<protocol::CloseMessage> close) {
  std::unique_lock lock(mutex_);
  if (closing_) return;
  if (close && protocol_) {
    auto frame = std::make_shared<Frame>();
    protocol_->write(*close, *frame);
    queuedBytes_ += frame->size();
    queue_.push_back(std::move(frame));
  }
  closing_ = true;
  auto w = wakeup_;
  lock.unlock();
  if (w) w();
}

bool HubConnection::closing() const {
  std::lock_guard lock(mutex_);
  return closing_;
}

bool HubConnection::overflowed() const {
  std::lock_guard lock(mutex_);
  return overflowed_;
}

std::chrono::steady_clock::time_point HubConnection::lastEnqueue() const {
  std::lock_guard lock(mutex_);
  return lastEnqueue_;
}

void HubConnection::addGroup(const std::string& group) {
  std::lock_guard lock(mutex_);
  groups_.insert(group);
}

void HubConnection::removeGroup(const std::string& group) {
  std::lock_guard lock(mutex_);
  groups_.erase(group);
}

std::set<std::string> HubConnection::groups() const {
  std::lock_guard lock(mutex_);
  return groups_;
}

std::uint64_t HubConnection::framesQueued() const {
  std::lock_guard lock(mutex_);
  return framesQueued_;
}

}  // namespace herald::hub
