#include "backplane/redis/redis_backplane.h"

#include <algorithm>
#include <ctime>
#include <functional>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "backplane/envelope.h"
#include "metrics/herald_metrics.h"

namespace herald::backplane::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// A fill reads this many stored updates at a time (one page in memory per job).
constexpr std::size_t kFillPage = 500;
// A fill that has not yet seen the sequence that started it reads again this many times
// (a store replica behind its primary; MariaDB itself shows a committed row at once).
constexpr int kMaxRereads = 3;
// A store read that failed is tried again after this long.
constexpr auto kFillRetry = 1s;
// Publishes sent to Redis and not yet answered: bounds what hiredis buffers when Redis
// is slow, the rest waits in the (byte-bounded) queue.
constexpr std::size_t kMaxInFlight = 1000;
// How long whenSubscribed waits for Redis to confirm a SUBSCRIBE before letting the
// subscriber go on anyway (a fill covers what it might miss).
constexpr auto kSubscribeWait = 2s;
// How often the groups of pollInterest are looked up on Redis (PUBSUB NUMSUB).
constexpr auto kPollInterval = 1s;
// Unordered sends held while their job group fills (more are dropped).
constexpr std::size_t kMaxHeld = 256;
constexpr const char* kCancelEvent = "JobCancelled";

metrics::Counter& event(const char* name) { return metrics::herald().redis.with({name}); }

std::string isoTime(std::chrono::system_clock::time_point t) {
  const auto seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

RedisBackplane::RedisBackplane(RedisBackplaneOptions options)
    : options_(std::move(options)),
      prefix_("herald:" +
              (options_.redis.channelPrefix.empty() ? "" : options_.redis.channelPrefix + ":")) {
  const auto executor = context_.get_executor();
  ClientCallbacks commandCallbacks;
  commandCallbacks.up = [this] {
    if (commandsWasUp_) event("reconnect").inc();
    commandsWasUp_ = true;
    setState(true, true, {});
    flush();
  };
  commandCallbacks.down = [this](const std::string& reason) { setState(true, false, reason); };
  commands_ = RedisClient::create(executor, options_.redis, ClientRole::Commands,
                                  std::move(commandCallbacks), "commands");
  ClientCallbacks subscriberCallbacks;
  subscriberCallbacks.up = [this] { onSubscriberUp(); };
  subscriberCallbacks.down = [this](const std::string& reason) { onSubscriberDown(reason); };
  subscriberCallbacks.message = [this](std::string_view channel, std::string_view payload) {
    onMessage(channel, payload);
  };
  subscriberCallbacks.subscribed = [this](const std::string& channel) { onSubscribed(channel); };
  subscriber_ = RedisClient::create(executor, options_.redis, ClientRole::Subscriber,
                                    std::move(subscriberCallbacks), "subscriber");
  subscriber_->subscribe(prefix_ + "all");
  subscriber_->subscribe(prefix_ + "conn");
  subscriber_->subscribe(prefix_ + "control");
}

RedisBackplane::~RedisBackplane() {
  try {
    stop();
  } catch (const std::exception& e) {
    // Only a failed thread join or allocation could get here; nothing is left to save.
    spdlog::error("redis backplane: stopping failed: {}", e.what());
  }
}

void RedisBackplane::start() {
  work_.emplace(context_.get_executor());
  commands_->start();
  subscriber_->start();
  pollTick();
  thread_ = std::thread([this] { context_.run(); });
}

std::optional<std::string> RedisBackplane::waitUntilConnected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(stateMutex_);
  if (stateChanged_.wait_for(lock, timeout, [this] { return commandsUp_ && subscriberUp_; })) {
    return std::nullopt;
  }
  return downReason_;
}

void RedisBackplane::stop() {
  {
    std::lock_guard lock(stateMutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  auto closeAll = [this] {
    pollTimer_.cancel();
    commands_->close();
    subscriber_->close();
    for (auto& [group, waiters] : waiters_) {
      for (auto& w : waiters) w();
    }
    waiters_.clear();
  };
  if (thread_.joinable()) {
    asio::post(context_, [this, closeAll] {
      closeAll();
      work_.reset();
      context_.stop();  // what is still pending is destroyed with the context
    });
    thread_.join();
  } else {
    closeAll();
  }
}

std::string RedisBackplane::channelOf(const Target& target) const {
  switch (target.kind) {
    case TargetKind::All: return prefix_ + "all";
    case TargetKind::Connection: return prefix_ + "conn";
    case TargetKind::Group: return groupChannel(target.name);
  }
  return prefix_ + "all";
}

RedisBackplane::Stripe& RedisBackplane::stripeOf(const std::string& group) {
  return stripes_[std::hash<std::string>{}(group) % stripes_.size()];
}

// ---- publishing ------------------------------------------------------------------------

void RedisBackplane::publish(Envelope envelope) {
  envelope.origin = options_.nodeId;
  enqueue(channelOf(envelope.target), encodeEnvelope(envelope));
  deliver(std::move(envelope));
}

void RedisBackplane::signalJobCancelled(const std::string& jobId) {
  Envelope e;
  e.target = Target::all();
  e.event = kCancelEvent;
  e.ordering = Ordering{jobId, 0};
  e.origin = options_.nodeId;
  enqueue(prefix_ + "control", encodeEnvelope(e));
}

void RedisBackplane::enqueue(std::string channel, std::string bytes) {
  std::lock_guard lock(queueMutex_);
  // Full (Redis away for a while): the oldest go first. A job's updates among them are
  // filled from the store by the receivers; other sends are lost (docs/architecture.md).
  while (!queue_.empty() && queuedBytes_ + bytes.size() > options_.maxQueuedPublishBytes) {
    queuedBytes_ -= queue_.front().bytes.size() + queue_.front().channel.size();
    queue_.pop_front();
    event("publish_dropped").inc();
  }
  if (bytes.size() + channel.size() > options_.maxQueuedPublishBytes) {
    event("publish_dropped").inc();
    return;
  }
  queuedBytes_ += bytes.size() + channel.size();
  queue_.push_back({std::move(channel), std::move(bytes)});
  if (!flushPosted_) {
    flushPosted_ = true;
    asio::post(context_, [this] { flush(); });
  }
}

void RedisBackplane::flush() {
  std::vector<Queued> batch;
  {
    std::lock_guard lock(queueMutex_);
    flushPosted_ = false;
    if (!commands_->ready()) return;  // the connection's `up` flushes
    while (!queue_.empty() && batch.size() + commands_->inFlight() < kMaxInFlight) {
      queuedBytes_ -= queue_.front().bytes.size() + queue_.front().channel.size();
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  for (auto& q : batch) {
    commands_->command({"PUBLISH", std::move(q.channel), std::move(q.bytes)},
                       [this](const RedisReply& reply) {
                         if (!reply.ok()) event("publish_failed").inc();
                         {
                           std::lock_guard lock(queueMutex_);
                           if (queue_.empty() || flushPosted_) return;
                           flushPosted_ = true;
                         }
                         flush();
                       });
  }
}

// ---- receiving and delivering --------------------------------------------------------

void RedisBackplane::onMessage(std::string_view channel, std::string_view payload) {
  auto envelope = decodeEnvelope(payload);
  if (!envelope) {
    event("malformed").inc();
    return;
  }
  if (envelope->origin == options_.nodeId) return;  // delivered here when published
  if (channel == prefix_ + "control") {
    if (envelope->event == kCancelEvent && envelope->ordering && cancelled_) {
      cancelled_(envelope->ordering->jobId);
    }
    return;
  }
  // A send's channel follows from its target; one that does not match is not ours.
  if (channel != channelOf(envelope->target)) {
    event("malformed").inc();
    return;
  }
  deliver(std::move(*envelope));
}

void RedisBackplane::deliver(Envelope envelope) {
  if (!sink_) return;
  if (envelope.target.kind != TargetKind::Group) {
    sink_->deliverLocal(std::move(envelope));
    return;
  }
  const std::string group = envelope.target.name;
  auto& stripe = stripeOf(group);
  std::unique_lock lock(stripe.mutex);
  auto it = stripe.tracks.find(group);
  if (it == stripe.tracks.end()) {
    lock.unlock();
    sink_->deliverLocal(std::move(envelope));
    return;
  }
  Track& t = it->second;
  if (!envelope.ordering) {
    if (t.filling) {
      if (t.held.size() < kMaxHeld) t.held.push_back(std::move(envelope));
      return;
    }
    sink_->deliverLocal(std::move(envelope));
    return;
  }
  const auto sequence = envelope.ordering->sequence;
  if (t.filling) {
    t.wanted = std::max(t.wanted, sequence);  // the fill reads it from the store
    return;
  }
  if (!t.known || sequence == t.last + 1) {
    t.known = true;
    t.last = sequence;
    sink_->deliverLocal(std::move(envelope));  // under the stripe lock: in sequence order
    return;
  }
  if (sequence <= t.last) return;  // a fill delivered it already
  // A gap: what lies between is in the store.
  t.filling = true;
  t.wanted = sequence;
  t.rereads = 0;
  const auto jobId = t.jobId;
  const auto epoch = t.epoch;
  const auto after = t.last;
  lock.unlock();
  event("gap_fill_gap").inc();
  readFill(group, jobId, epoch, after);
}

void RedisBackplane::readFill(const std::string& group, const std::string& jobId,
                              std::uint64_t epoch, std::int64_t after) {
  history_->readAfter(jobId, after, kFillPage, [this, group, epoch](HistorySource::Page page) {
    onFillPage(group, epoch, std::move(page));
  });
}

void RedisBackplane::onFillPage(const std::string& group, std::uint64_t epoch,
                                HistorySource::Page page) {
  auto& stripe = stripeOf(group);
  std::unique_lock lock(stripe.mutex);
  auto it = stripe.tracks.find(group);
  if (it == stripe.tracks.end() || it->second.epoch != epoch) return;  // unsubscribed since
  Track& t = it->second;
  if (!page) {
    lock.unlock();
    auto timer = std::make_shared<asio::steady_timer>(context_, kFillRetry);
    timer->async_wait([this, timer, group, epoch](boost::system::error_code ec) {
      if (ec) return;
      auto& s = stripeOf(group);
      std::unique_lock relock(s.mutex);
      auto found = s.tracks.find(group);
      if (found == s.tracks.end() || found->second.epoch != epoch) return;
      const auto jobId = found->second.jobId;
      const auto after = found->second.last;
      relock.unlock();
      readFill(group, jobId, epoch, after);
    });
    return;
  }
  std::uint64_t delivered = 0;
  const auto pageSize = page->size();
  for (auto& e : *page) {
    if (!e.ordering || (t.known && e.ordering->sequence <= t.last)) continue;
    t.known = true;
    t.last = e.ordering->sequence;
    ++delivered;
    sink_->deliverLocal(std::move(e));
  }
  if (delivered) event("filled").inc(delivered);
  const bool more = pageSize >= kFillPage;
  const bool behind = t.wanted > t.last && t.rereads < kMaxRereads;
  if (more || behind) {
    if (!more) ++t.rereads;
    const auto jobId = t.jobId;
    const auto after = t.known ? t.last : 0;
    lock.unlock();
    readFill(group, jobId, epoch, after);
    return;
  }
  t.filling = false;
  t.wanted = 0;
  auto held = std::move(t.held);
  t.held.clear();
  for (auto& e : held) sink_->deliverLocal(std::move(e));
}

void RedisBackplane::fillEverything(const char* reason) {
  struct Start {
    std::string group, jobId;
    std::uint64_t epoch;
    std::int64_t after;
  };
  std::vector<Start> starts;
  for (auto& stripe : stripes_) {
    std::lock_guard lock(stripe.mutex);
    for (auto& [group, t] : stripe.tracks) {
      if (t.filling) continue;  // a fill in progress reads up to the present anyway
      t.filling = true;
      t.wanted = 0;
      t.rereads = 0;
      starts.push_back({group, t.jobId, t.epoch, t.known ? t.last : 0});
    }
  }
  if (!starts.empty()) {
    spdlog::info("redis backplane: filling {} subscribed job(s) from the store ({})", starts.size(),
                 reason);
  }
  event(reason).inc(starts.size());
  for (auto& s : starts) readFill(s.group, s.jobId, s.epoch, s.after);
}

// ---- node-level subscriptions ----------------------------------------------------------

void RedisBackplane::subscribe(const std::string& group) {
  asio::post(context_, [this, group] {
    if (history_) {
      if (auto job = history_->jobOfGroup(group)) {
        Track t;
        t.jobId = *job;
        t.epoch = nextEpoch_++;
        auto& stripe = stripeOf(group);
        std::lock_guard lock(stripe.mutex);
        stripe.tracks[group] = std::move(t);
      }
    }
    subscriber_->subscribe(groupChannel(group));
  });
}

void RedisBackplane::unsubscribe(const std::string& group) {
  asio::post(context_, [this, group] {
    {
      auto& stripe = stripeOf(group);
      std::lock_guard lock(stripe.mutex);
      stripe.tracks.erase(group);
    }
    confirmed_.erase(group);
    releaseWaiters(group);
    subscriber_->unsubscribe(groupChannel(group));
  });
}

void RedisBackplane::whenSubscribed(const std::string& group, std::function<void()> ready) {
  asio::post(context_, [this, group, ready = std::move(ready)]() mutable {
    if (!subscriber_->ready() || confirmed_.count(group)) {
      ready();
      return;
    }
    // Called once: by the confirmation or by the timer, whichever comes first.
    auto done = std::make_shared<bool>(false);
    auto once = [done, ready = std::move(ready)] {
      if (*done) return;
      *done = true;
      ready();
    };
    waiters_[group].push_back(once);
    auto timer = std::make_shared<asio::steady_timer>(context_, kSubscribeWait);
    timer->async_wait([timer, once](boost::system::error_code) mutable { once(); });
  });
}

void RedisBackplane::releaseWaiters(const std::string& group) {
  auto it = waiters_.find(group);
  if (it == waiters_.end()) return;
  auto waiters = std::move(it->second);
  waiters_.erase(it);
  for (auto& w : waiters) w();
}

void RedisBackplane::onSubscribed(const std::string& channel) {
  const auto groupPrefix = prefix_ + "g:";
  if (channel.rfind(groupPrefix, 0) != 0) return;
  auto group = channel.substr(groupPrefix.size());
  confirmed_.insert(group);
  releaseWaiters(group);
}

void RedisBackplane::onSubscriberUp() {
  if (subscriberWasUp_) event("reconnect").inc();
  setState(false, true, {});
  // Whatever was published while this node was not subscribed (an outage, or groups
  // joined before the first connect) is in the store: fill every subscribed job group.
  fillEverything(subscriberWasUp_ ? "gap_fill_reconnect" : "gap_fill_connect");
  subscriberWasUp_ = true;
}

void RedisBackplane::onSubscriberDown(const std::string& reason) {
  confirmed_.clear();
  auto all = std::move(waiters_);
  waiters_.clear();
  for (auto& [group, waiters] : all) {
    for (auto& w : waiters) w();  // nobody waits on an outage; the fill covers them
  }
  setState(false, false, reason);
}

// ---- health ------------------------------------------------------------------------------

void RedisBackplane::setState(bool commands, bool up, const std::string& reason) {
  bool all;
  {
    std::lock_guard lock(stateMutex_);
    const bool wasAll = commandsUp_ && subscriberUp_;
    (commands ? commandsUp_ : subscriberUp_) = up;
    all = commandsUp_ && subscriberUp_;
    if (!up) {
      if (wasAll) downSince_ = std::chrono::system_clock::now();
      downReason_ = reason;
    }
  }
  metrics::herald().redisConnected.set(all ? 1 : 0);
  stateChanged_.notify_all();
}

BackplaneHealth RedisBackplane::health() const {
  std::lock_guard lock(stateMutex_);
  if (commandsUp_ && subscriberUp_) return {};
  return {true, "redis (" + describe(options_.redis) + ") unreachable since " +
                    isoTime(downSince_) + ": " + downReason_ +
                    "; local delivery goes on, other nodes' updates are filled in on reconnect"};
}

// ---- interest elsewhere ------------------------------------------------------------------

void RedisBackplane::pollTick() {
  if (!polled_.empty() && commands_->ready()) {
    for (const auto& group : polled_) {
      commands_->command(
          {"PUBSUB", "NUMSUB", groupChannel(group)}, [this, group](const RedisReply& reply) {
            if (reply.type != RedisReply::Type::Array || reply.elements.size() != 2) {
              return;
            }
            // Redis counts this node's own subscription too.
            const auto mine = confirmed_.count(group) ? 1 : 0;
            const bool elsewhere = reply.elements[1].integer - mine > 0;
            std::lock_guard lock(stateMutex_);
            if (elsewhere) {
              watchedElsewhere_.insert(group);
            } else {
              watchedElsewhere_.erase(group);
            }
          });
    }
  }
  if (polled_.empty()) return;
  pollTimer_.expires_after(kPollInterval);
  pollTimer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) pollTick();
  });
}

bool RedisBackplane::watchedElsewhere(const std::string& group) const {
  std::lock_guard lock(stateMutex_);
  return watchedElsewhere_.count(group) != 0;
}

}  // namespace herald::backplane::redis
