#pragma once
// The Redis backplane: hub sends cross nodes over Redis pub/sub, and what pub/sub loses
// is filled in from the store.
//
// Channels (all under "herald:" + channelPrefix + ":" when a prefix is set):
//   g:<group>   sends to a group (a job's, a video's, a user's "user-<id>", the
//               dashboard's); a node subscribes on the group's first local member and
//               unsubscribes after its last (the hub calls subscribe/unsubscribe)
//   all         sends to every connection; every node subscribes
//   conn        sends to one connection id; every node subscribes and the node holding the
//               connection delivers (no per-connection subscription churn)
//   control     node signals (a job cancelled); every node subscribes
// A message is an envelope's byte form (envelope.h) with this node as its origin.
//
// Publishing delivers to this node's connections at once, on the caller's thread, and
// queues the bytes for Redis (bounded: Backplane:MaxQueuedPublishBytes, the oldest dropped
// first while Redis is away); a node skips its own messages coming back. Messages from
// Redis are decoded (never trusted) and delivered on the backplane's thread.
//
// Nothing lost: per subscribed job group the node keeps the last sequence it delivered.
// An update whose sequence leaves a gap (a message Redis dropped, or one of this node's
// own updates racing another node's), and every subscribed job group after a reconnect
// (Redis drops everything published while a subscriber is away), is filled from the
// store (HistorySource) in sequence order before anything newer is delivered; updates
// that arrive meanwhile are dropped, since the store has them too. Connections drop what
// they already have by the same sequence, so each gets every update once, in order.
// Sends without a sequence (video updates, notifications, job outcomes) have no store
// history to fill from: one published while a node is cut off is lost for that node.
//
// Thread safety: every public member may be called from any thread; subscribe and
// unsubscribe (called under the hub's registry lock) only post to the backplane's
// thread. Ordered deliveries of a job group run under that group's stripe lock, which is
// never taken with the hub's lock held.
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "backplane/backplane.h"
#include "backplane/history_source.h"
#include "backplane/redis/redis_client.h"
#include "backplane/redis/redis_options.h"

namespace herald::backplane::redis {

struct RedisBackplaneOptions {
  RedisOptions redis;
  std::string nodeId;  // this node: the origin of what it publishes
  // Bytes of publishes kept while Redis is unreachable (Backplane:MaxQueuedPublishBytes).
  std::size_t maxQueuedPublishBytes = 8ULL * 1024 * 1024;
};

class RedisBackplane final : public Backplane {
 public:
  explicit RedisBackplane(RedisBackplaneOptions options);
  ~RedisBackplane() override;
  RedisBackplane(const RedisBackplane&) = delete;
  RedisBackplane& operator=(const RedisBackplane&) = delete;

  // Before start().
  void setLocalSink(LocalSink* sink) override { sink_ = sink; }
  void setHistory(HistorySource* history) { history_ = history; }
  void onJobCancelled(std::function<void(const std::string&)> handler) override {
    cancelled_ = std::move(handler);
  }

  // Starts the backplane's thread and both connections.
  void start();
  // Blocks until both connections are up; after `timeout`, the last failure's reason
  // (abortConnect: the server stops with it).
  std::optional<std::string> waitUntilConnected(std::chrono::milliseconds timeout);
  // Closes the connections and joins the thread (idempotent; the destructor calls it).
  void stop();

  void publish(Envelope envelope) override;
  void subscribe(const std::string& group) override;
  void unsubscribe(const std::string& group) override;
  void whenSubscribed(const std::string& group, std::function<void()> ready) override;
  bool watchedElsewhere(const std::string& group) const override;
  void signalJobCancelled(const std::string& jobId) override;
  BackplaneHealth health() const override;

  // Which groups' interest elsewhere is polled (PUBSUB NUMSUB, once a second). Before start.
  void pollInterest(std::string group) { polled_.push_back(std::move(group)); }
  std::string groupChannel(const std::string& group) const { return prefix_ + "g:" + group; }

 private:
  // A subscribed job group's delivery state (under its stripe's mutex).
  struct Track {
    std::string jobId;
    std::uint64_t epoch = 0;  // which subscription this is (a fill of an older one stops)
    std::int64_t last = 0;    // last sequence delivered on this node
    bool known = false;       // whether `last` means anything yet
    bool filling = false;     // a store read is in progress; ordered updates wait for it
    std::int64_t wanted = 0;  // highest sequence seen (and dropped) while filling
    int rereads = 0;          // reads that did not reach `wanted` (bounded)
    // Sends without a sequence to the group (a job's outcome) that came while filling:
    // delivered after the fill, so an outcome never overtakes the updates before it.
    std::vector<Envelope> held;
  };
  struct Stripe {
    std::mutex mutex;
    std::unordered_map<std::string, Track> tracks;  // by group
  };
  struct Queued {
    std::string channel;
    std::string bytes;
  };

  Stripe& stripeOf(const std::string& group);
  // Local delivery of a send (ordered job-group sends through their track).
  void deliver(Envelope envelope);
  // Starts (outside any lock) the store read of `group` after `after`.
  void readFill(const std::string& group, const std::string& jobId, std::uint64_t epoch,
                std::int64_t after);
  void onFillPage(const std::string& group, std::uint64_t epoch, HistorySource::Page page);
  void fillEverything(const char* reason);

  void enqueue(std::string channel, std::string bytes);
  void flush();  // backplane thread
  void onMessage(std::string_view channel, std::string_view payload);
  void onSubscribed(const std::string& channel);
  void onSubscriberUp();
  void onSubscriberDown(const std::string& reason);
  void setState(bool commands, bool up, const std::string& reason);
  void releaseWaiters(const std::string& group);
  void pollTick();
  std::string channelOf(const Target& target) const;

  const RedisBackplaneOptions options_;
  const std::string prefix_;
  LocalSink* sink_ = nullptr;
  HistorySource* history_ = nullptr;
  std::function<void(const std::string&)> cancelled_;
  std::vector<std::string> polled_;

  boost::asio::io_context context_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  boost::asio::steady_timer pollTimer_{context_};
  RedisClient::Ptr commands_;
  RedisClient::Ptr subscriber_;

  std::array<Stripe, 64> stripes_;

  // Backplane thread only.
  std::set<std::string> confirmed_;  // groups whose SUBSCRIBE Redis confirmed
  std::map<std::string, std::vector<std::function<void()>>> waiters_;
  std::uint64_t nextEpoch_ = 1;
  bool subscriberWasUp_ = false;
  bool commandsWasUp_ = false;

  mutable std::mutex queueMutex_;
  std::deque<Queued> queue_;
  std::size_t queuedBytes_ = 0;
  bool flushPosted_ = false;

  mutable std::mutex stateMutex_;
  std::condition_variable stateChanged_;
  bool commandsUp_ = false;
  bool subscriberUp_ = false;
  std::string downReason_ = "not connected yet";
  std::chrono::system_clock::time_point downSince_ = std::chrono::system_clock::now();
  std::set<std::string> watchedElsewhere_;
  bool stopped_ = false;
};

}  // namespace herald::backplane::redis
