#include "hub/hub_connection.h"

#include <algorithm>

namespace herald::hub {

HubConnection::HubConnection(std::string connectionId, auth::Principal principal,
                             std::size_t maxQueueBytes)
    : id_(std::move(connectionId)),
      principal_(std::move(principal)),
      maxQueueBytes_(maxQueueBytes) {}

namespace {
auth::Principal userPrincipal(std::string userId) {
  auth::Principal p;
  p.authenticated = !userId.empty();
  p.userId = std::move(userId);
  return p;
}
}  // namespace

HubConnection::HubConnection(std::string connectionId, std::string userId,
                             std::size_t maxQueueBytes)
    : HubConnection(std::move(connectionId), userPrincipal(std::move(userId)), maxQueueBytes) {}

void HubConnection::setProtocol(const protocol::HubProtocol* protocol) {
  std::lock_guard lock(mutex_);
  protocol_ = protocol;
}

const protocol::HubProtocol* HubConnection::protocol() const {
  std::lock_guard lock(mutex_);
  return protocol_;
}

bool HubConnection::binary() const {
  std::lock_guard lock(mutex_);
  return protocol_ && protocol_->transferFormat() == protocol::TransferFormat::Binary;
}

std::size_t HubConnection::outstandingLocked() const {
  // Replayed copies sit in the queue and in the replay buffer at once (the same bytes,
  // shared): count them once.
  return queuedBytes_ + heldBytes_ + replayBytes_ - std::min(requeuedBytes_, replayBytes_);
}

EnqueueResult HubConnection::enqueueLocked(OutFrame frame, std::unique_lock<std::mutex>& lock) {
  if (closing_) return EnqueueResult::Closed;
  // Unacknowledged replay frames count too: a stateful client that stopped reading, or
  // reads but never sends Ack, must not hold memory without bound either. Only a frame
  // that alone exceeds the bound, with nothing else outstanding, may still go.
  if (outstandingLocked() + frame.bytes->size() > maxQueueBytes_ &&
      (!queue_.empty() || heldBytes_ > 0 || replayBytes_ > 0)) {
    // Slow consumer: the policy is to end this connection (the client reconnects and
    // catches up from the store with afterSequence) rather than grow without bound.
    overflowed_ = true;
    closing_ = true;
  }
  bool wasEmpty = queue_.empty();
  if (!overflowed_) {
    queuedBytes_ += frame.bytes->size();
    queue_.push_back(std::move(frame));
    ++enqueued_;
  }
  auto wakeup = (wasEmpty || overflowed_) ? wakeup_ : nullptr;
  auto result = overflowed_ ? EnqueueResult::Overflow : EnqueueResult::Queued;
  lock.unlock();
  if (wakeup && *wakeup) (*wakeup)();
  return result;
}

void HubConnection::beginReplay(const std::string& jobId, std::int64_t afterSequence) {
  std::lock_guard lock(mutex_);
  lastSequence_[jobId] = afterSequence;
  held_.try_emplace(jobId);
}

bool HubConnection::advanceLocked(const OrderKey& key) {
  auto [last, fresh] = lastSequence_.try_emplace(key.jobId, key.sequence);
  if (fresh) return true;  // the job's first event on this connection (or since a restart)
  if (key.sequence <= last->second) return false;
  last->second = key.sequence;
  return true;
}

void HubConnection::restartSequence(const std::string& jobId) {
  std::lock_guard lock(mutex_);
  lastSequence_.erase(jobId);
}

void HubConnection::endReplay(const std::string& jobId) {
  std::unique_lock lock(mutex_);
  auto it = held_.find(jobId);
  if (it == held_.end()) return;
  auto held = std::move(it->second);
  held_.erase(it);
  for (const auto& h : held) heldBytes_ -= h.frame.bytes->size();
  std::stable_sort(held.begin(), held.end(),
                   [](const Held& a, const Held& b) { return a.sequence < b.sequence; });
  auto& last = lastSequence_[jobId];
  for (auto& h : held) {
    if (h.sequence <= last) continue;  // replayed already
    last = h.sequence;
    if (enqueueLocked(std::move(h.frame), lock) != EnqueueResult::Queued) return;
    lock.lock();
  }
}

std::size_t HubConnection::queuedBytes() const {
  std::lock_guard lock(mutex_);
  return queuedBytes_;
}

EnqueueResult HubConnection::send(const SerializedMessage& message, SendMode mode) {
  std::unique_lock lock(mutex_);
  if (!protocol_ || closing_) return EnqueueResult::Closed;
  const auto& key = message.orderKey();
  const bool hold = key && mode == SendMode::Live && held_.count(key->jobId) > 0;
  if (key && !hold) {
    if (!advanceLocked(*key)) return EnqueueResult::Dropped;
  }
  auto* protocol = protocol_;
  // Serialisation happens at most once per protocol for the whole fan-out; it takes
  // the message's own lock, never ours, so release ours meanwhile.
  lock.unlock();
  auto frame = message.frameFor(*protocol);
  lock.lock();
  OutFrame out{std::move(frame), protocol::isTrackable(message.message()), message.recordedAt()};
  if (key && mirroredLocked()) {
    out.jobId = key->jobId;
    out.jobSequence = key->sequence;
  }
  if (hold) {
    auto it = held_.find(key->jobId);
    if (it != held_.end() && !closing_) {
      // Counted toward the limit like queued bytes: a replay must not let a flood of
      // live updates grow without bound.
      const bool over = outstandingLocked() + out.bytes->size() > maxQueueBytes_;
      if (over && (heldBytes_ > 0 || !queue_.empty() || replayBytes_ > 0)) {
        return enqueueLocked(std::move(out), lock);  // the same test: overflows and closes
      }
      heldBytes_ += out.bytes->size();
      it->second.push_back(Held{key->sequence, std::move(out)});
      return EnqueueResult::Queued;
    }
    if (closing_) return EnqueueResult::Closed;
    // The replay ended while this was being framed: an ordinary live send.
    if (!advanceLocked(*key)) return EnqueueResult::Dropped;
  }
  return enqueueLocked(std::move(out), lock);
}

EnqueueResult HubConnection::send(const protocol::HubMessage& message) {
  std::unique_lock lock(mutex_);
  if (!protocol_ || closing_) return EnqueueResult::Closed;
  auto frame = std::make_shared<Frame>();
  protocol_->write(message, *frame);
  return enqueueLocked(OutFrame{std::move(frame), protocol::isTrackable(message)}, lock);
}

EnqueueResult HubConnection::sendRaw(FramePtr frame) {
  std::unique_lock lock(mutex_);
  return enqueueLocked(OutFrame{std::move(frame), false}, lock);
}

std::vector<FramePtr> HubConnection::takeQueued(std::int64_t* oldestRecordedAt) {
  std::vector<FramePtr> out;
  bool binary = false;
  takeQueued(out, binary, std::numeric_limits<std::size_t>::max(), oldestRecordedAt);
  return out;
}

bool HubConnection::takeQueued(std::vector<FramePtr>& out, bool& binary, std::size_t maxBytes,
                               std::int64_t* oldestRecordedAt) {
  std::int64_t oldest = 0;
  std::lock_guard lock(mutex_);
  binary = protocol_ && protocol_->transferFormat() == protocol::TransferFormat::Binary;
  std::size_t taken = 0;
  std::size_t bytes = 0;
  while (taken < queue_.size() && (taken == 0 || bytes < maxBytes)) {
    auto& f = queue_[taken++];
    if (f.requeued) requeuedBytes_ -= std::min(requeuedBytes_, f.bytes->size());
    if (stateful_ && f.trackable) {
      // Counted where bytes leave for the socket, so backplane traffic is numbered too.
      replay_->push_back(Buffered{++totalSent_, f.bytes});
      replayBytes_ += f.bytes->size();
      if (mirroredLocked()) {
        link_->unmirrored.push_back(
            MirroredFrame{totalSent_, std::move(f.jobId), f.jobSequence, f.bytes});
      }
    }
    bytes += f.bytes->size();
    if (f.recordedAt != 0 && (oldest == 0 || f.recordedAt < oldest)) oldest = f.recordedAt;
    out.push_back(std::move(f.bytes));
  }
  if (oldestRecordedAt) *oldestRecordedAt = oldest;
  if (taken == queue_.size()) {
    queue_.clear();
    queuedBytes_ = 0;
    return closing_;
  }
  // The queue is bounded in bytes, so moving the rest forward costs at most that bound.
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(taken));
  queuedBytes_ -= bytes;
  return false;
}

void HubConnection::setWakeup(std::function<void()> wakeup) {
  std::unique_lock lock(mutex_);
  wakeup_ = wakeup ? std::make_shared<const std::function<void()>>(std::move(wakeup)) : nullptr;
  bool pending = !queue_.empty() || closing_;
  auto w = wakeup_;
  lock.unlock();
  if (pending && w) (*w)();
}

void HubConnection::close(std::optional<protocol::CloseMessage> close) {
  std::unique_lock lock(mutex_);
  if (closing_) return;
  if (close && protocol_) {
    auto frame = std::make_shared<Frame>();
    protocol_->write(*close, *frame);
    queuedBytes_ += frame->size();
    queue_.push_back(OutFrame{std::move(frame), false});
  }
  closing_ = true;
  auto w = wakeup_;
  lock.unlock();
  if (w) (*w)();
}

bool HubConnection::closing() const {
  std::lock_guard lock(mutex_);
  return closing_;
}

bool HubConnection::overflowed() const {
  std::lock_guard lock(mutex_);
  return overflowed_;
}

void HubConnection::enableStatefulReconnect() {
  std::lock_guard lock(mutex_);
  stateful_ = true;
  if (!replay_) replay_ = std::make_unique<std::deque<Buffered>>();
}

bool HubConnection::statefulReconnect() const {
  std::lock_guard lock(mutex_);
  return stateful_;
}

void HubConnection::acknowledge(std::int64_t sequenceId) {
  std::unique_lock lock(mutex_);
  if (!replay_) return;
  bool trimmed = false;
  while (!replay_->empty() && replay_->front().sequence <= sequenceId) {
    replayBytes_ -= replay_->front().bytes->size();
    replay_->pop_front();
    trimmed = true;
  }
  auto mirror = trimmed && mirroredLocked() ? link_->mirror : nullptr;
  auto session = mirror ? link_->session : nullptr;
  lock.unlock();
  if (mirror) mirror->acknowledge(session, sequenceId);
}

void HubConnection::prepareReplay() {
  std::unique_lock lock(mutex_);
  if (!protocol_) return;
  auto first = !replay_ || replay_->empty() ? totalSent_ + 1 : replay_->front().sequence;
  std::vector<OutFrame> front;
  auto sequence = std::make_shared<Frame>();
  protocol_->write(protocol::SequenceMessage{first}, *sequence);
  front.push_back(OutFrame{std::move(sequence), false});
  // Replayed frames are numbered already: they go out as untracked copies and stay
  // in the buffer until acknowledged.
  requeuedBytes_ = 0;
  if (replay_) {
    for (const auto& b : *replay_) {
      requeuedBytes_ += b.bytes->size();
      front.push_back(OutFrame{b.bytes, false, 0, true});
    }
  }
  for (auto& f : queue_) front.push_back(std::move(f));
  queue_ = std::move(front);
  queuedBytes_ = 0;
  for (const auto& f : queue_) queuedBytes_ += f.bytes->size();
  auto w = wakeup_;
  lock.unlock();
  if (w) (*w)();
}

std::uint64_t HubConnection::enqueuedCount() const {
  std::lock_guard lock(mutex_);
  return enqueued_;
}

bool HubConnection::addGroup(const std::string& group, std::size_t maxGroups) {
  std::unique_lock lock(mutex_);
  if (maxGroups != 0 && groups_.size() >= maxGroups && !groups_.count(group)) return false;
  const bool added = groups_.insert(group).second;
  auto mirror = added && mirroredLocked() ? link_->mirror : nullptr;
  auto session = mirror ? link_->session : nullptr;
  lock.unlock();
  if (mirror) mirror->joined(session, group);
  return true;
}

std::size_t HubConnection::groupCount() const {
  std::lock_guard lock(mutex_);
  return groups_.size();
}

void HubConnection::removeGroup(const std::string& group) {
  std::unique_lock lock(mutex_);
  const bool removed = groups_.erase(group) > 0;
  auto mirror = removed && mirroredLocked() ? link_->mirror : nullptr;
  auto session = mirror ? link_->session : nullptr;
  lock.unlock();
  if (mirror) mirror->left(session, group);
}

void HubConnection::setToken(std::string token) {
  std::lock_guard lock(mutex_);
  if (!link_) link_ = std::make_unique<MirrorLink>();
  link_->token = std::move(token);
}

const std::string& HubConnection::token() const {
  static const std::string kNone;
  std::lock_guard lock(mutex_);
  return link_ ? link_->token : kNone;  // fixed once set (before the handshake)
}

void HubConnection::attachMirror(std::shared_ptr<SessionMirror> mirror, MirrorSessionPtr session) {
  std::lock_guard lock(mutex_);
  if (!link_) link_ = std::make_unique<MirrorLink>();
  link_->mirror = std::move(mirror);
  link_->session = std::move(session);
  mirrored_.store(link_->mirror != nullptr, std::memory_order_release);
}

bool HubConnection::mirrorTaken(std::function<void(MirrorWrite)> done) {
  std::unique_lock lock(mutex_);
  if (!mirroredLocked() || link_->unmirrored.empty()) return false;
  auto frames = std::move(link_->unmirrored);
  link_->unmirrored.clear();
  auto mirror = link_->mirror;
  auto session = link_->session;
  const auto total = totalSent_;
  lock.unlock();
  mirror->append(session, std::move(frames), total, std::move(done));
  return true;
}

bool HubConnection::checkMirror(std::function<void(MirrorWrite)> done) {
  std::unique_lock lock(mutex_);
  if (!mirroredLocked()) return false;
  auto mirror = link_->mirror;
  auto session = link_->session;
  lock.unlock();
  mirror->verify(session, std::move(done));
  return true;
}

bool HubConnection::handOver() {
  {
    std::lock_guard lock(mutex_);
    if (!mirroredLocked() || !stateful_ || closing_) return false;
    handingOver_ = true;
  }
  close(std::nullopt);  // the writer flushes the queue, then closes the socket
  return true;
}

bool HubConnection::handingOver() const {
  std::lock_guard lock(mutex_);
  return handingOver_;
}

void HubConnection::detachMirror() {
  std::unique_lock lock(mutex_);
  if (!mirroredLocked()) return;
  mirrored_.store(false, std::memory_order_release);
  if (handingOver_) {
    // Handed over: the record stays for the node that adopts the connection.
    link_->mirror = nullptr;
    link_->session = nullptr;
    return;
  }
  auto mirror = std::move(link_->mirror);
  auto session = std::move(link_->session);
  link_->mirror = nullptr;
  link_->session = nullptr;
  link_->unmirrored.clear();
  lock.unlock();
  if (mirror) mirror->close(session);
}

void HubConnection::restore(const SessionState& state) {
  std::lock_guard lock(mutex_);
  stateful_ = true;
  if (!replay_) replay_ = std::make_unique<std::deque<Buffered>>();
  replay_->clear();
  replayBytes_ = 0;
  for (const auto& f : state.frames) {
    if (!f.bytes) continue;
    replay_->push_back(Buffered{f.sequence, f.bytes});
    replayBytes_ += f.bytes->size();
  }
  totalSent_ = std::max(state.totalSent, replay_->empty() ? 0 : replay_->back().sequence);
  for (const auto& [job, mark] : state.jobMarks) lastSequence_[job] = mark;
}

std::set<std::string> HubConnection::groups() const {
  std::lock_guard lock(mutex_);
  return groups_;
}

}  // namespace herald::hub
