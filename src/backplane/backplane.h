#pragma once
// The backplane carries hub sends between Herald processes. Every send goes through it;
// each node then delivers to its own connections. The in-process backplane delivers
// straight away; a networked one (Redis) publishes the envelope's bytes and delivers on
// receipt, so senders need not know how many nodes exist.
//
// Node-level interest: the hub calls subscribe(group) when a group gets its first local
// member and unsubscribe(group) after its last one leaves, so a networked backplane only
// receives the groups this node serves (Centrifuge's Broker does the same). Sends to all
// connections and to one connection id need no subscription.
//
// Ordering: envelopes published from one thread are delivered to each node in the order
// published. Within a job, `ordering.sequence` lets a receiver drop duplicates and detect
// gaps (a networked backplane may lose messages; the store is the source of truth).
//
// Thread safety: implementations are safe to call from any thread. subscribe/unsubscribe
// are called with the hub's registry lock held: they must not block nor call back into
// the hub.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace herald::backplane {

enum class TargetKind { All, Group, Connection };

struct Target {
  TargetKind kind = TargetKind::All;
  std::string name;  // group name or connection id; empty for All

  static Target all() { return {TargetKind::All, {}}; }
  static Target group(std::string g) { return {TargetKind::Group, std::move(g)}; }
  static Target connection(std::string c) { return {TargetKind::Connection, std::move(c)}; }
};

// Per-job ordering tag carried with a job's events (see hub::OrderKey).
struct Ordering {
  std::string jobId;
  std::int64_t sequence = 0;
};

// One hub send, as plain data that can cross a process boundary (see envelope.h for its
// byte form): whom it is for, the hub event's name and its arguments as a JSON array.
struct Envelope {
  Target target;
  std::string event;          // the client method's name, e.g. "JobProgressUpdate"
  std::string argumentsJson;  // a JSON array: "[{...}]"
  std::optional<Ordering> ordering;
  // When the change this send announces was recorded (steady-clock nanoseconds, this
  // process only; 0 when none): the delivery-latency metric's start. Not carried between
  // nodes (steady clocks are per machine).
  std::int64_t recordedAt = 0;
  // The node that published it (a networked backplane sets it, so that a node skips its
  // own sends coming back: it delivered them locally at publish). Empty in-process.
  std::string origin;
};

// What a node does with a send that reached it: deliver to its own connections.
class LocalSink {
 public:
  virtual ~LocalSink() = default;
  virtual void deliverLocal(Envelope envelope) = 0;
};

// What /health says of the backplane: degraded while a networked one cannot reach its
// broker (local delivery goes on; what other nodes publish meanwhile is filled in later).
struct BackplaneHealth {
  bool degraded = false;
  std::string reason;  // why, for /health and logs; empty when healthy
};

class Backplane {
 public:
  virtual ~Backplane() = default;
  virtual void setLocalSink(LocalSink* sink) = 0;
  virtual void publish(Envelope envelope) = 0;
  virtual void subscribe(const std::string& group) = 0;
  virtual void unsubscribe(const std::string& group) = 0;

  // Runs `ready` (once, on any thread) when this node's subscription to `group` (already
  // asked for by subscribe) is in effect, so that a read made after it cannot miss an
  // update another node publishes meanwhile ("join first, read after" across nodes). A
  // networked backplane that is down calls it at once: what it misses is filled in when
  // it comes back.
  // (By value: a sink that networked backplanes keep until Redis answers.)
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  virtual void whenSubscribed(const std::string& /*group*/, std::function<void()> ready) {
    ready();
  }
  // Whether a node other than this one has a member in `group` (for sends that are made
  // only while someone watches, such as the dashboard's). In-process: no other node.
  virtual bool watchedElsewhere(const std::string& /*group*/) const { return false; }

  // Node-level signal, not a hub send: `jobId` was cancelled here, so the node running it
  // stops it now rather than at its next lease check. In-process: this node's engine
  // already knows.
  virtual void signalJobCancelled(const std::string& /*jobId*/) {}
  // Where another node's signal lands (set once, before start).
  // NOLINTNEXTLINE(performance-unnecessary-value-param): a sink (kept by networked ones)
  virtual void onJobCancelled(std::function<void(const std::string&)> /*handler*/) {}

  virtual BackplaneHealth health() const { return {}; }
};

// Delivers every publish synchronously to the local sink: one process, no network, so
// node-level subscriptions have nothing to do.
class InProcessBackplane final : public Backplane {
 public:
  void setLocalSink(LocalSink* sink) override { sink_ = sink; }
  void publish(Envelope envelope) override {
    if (sink_) sink_->deliverLocal(std::move(envelope));
  }
  void subscribe(const std::string&) override {}
  void unsubscribe(const std::string&) override {}

 private:
  LocalSink* sink_ = nullptr;
};

using BackplanePtr = std::unique_ptr<Backplane>;

}  // namespace herald::backplane
