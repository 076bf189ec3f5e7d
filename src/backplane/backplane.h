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
};

// What a node does with a send that reached it: deliver to its own connections.
class LocalSink {
 public:
  virtual ~LocalSink() = default;
  virtual void deliverLocal(Envelope envelope) = 0;
};

class Backplane {
 public:
  virtual ~Backplane() = default;
  virtual void setLocalSink(LocalSink* sink) = 0;
  virtual void publish(Envelope envelope) = 0;
  virtual void subscribe(const std::string& group) = 0;
  virtual void unsubscribe(const std::string& group) = 0;
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
