#pragma once
// The backplane carries hub sends between Herald processes. Every send goes through
// it; each process then delivers locally. The in-process backplane delivers straight
// away; a Redis backplane (later) publishes and delivers on receipt, so senders need
// not know how many nodes exist.
//
// Thread safety: implementations are safe to call from any thread.
#include <memory>
#include <optional>
#include <string>

#include "protocol/signalr/messages.h"

namespace herald::backplane {

enum class TargetKind { All, Group, User, Connection };

struct Target {
  TargetKind kind = TargetKind::All;
  std::string name;  // group name, user id or connection id; empty for All

  static Target all() { return {TargetKind::All, {}}; }
  static Target group(std::string g) { return {TargetKind::Group, std::move(g)}; }
  static Target user(std::string u) { return {TargetKind::User, std::move(u)}; }
  static Target connection(std::string c) { return {TargetKind::Connection, std::move(c)}; }
};

// Optional per-job ordering tag carried with an event (see hub::OrderKey).
struct Ordering {
  std::string jobId;
  std::int64_t sequence = 0;
};

// What a node does with a send that reached it: deliver to its own connections.
class LocalSink {
 public:
  virtual ~LocalSink() = default;
  virtual void deliverLocal(const Target& target, protocol::InvocationMessage message,
                            std::optional<Ordering> ordering) = 0;
};

class Backplane {
 public:
  virtual ~Backplane() = default;
  virtual void setLocalSink(LocalSink* sink) = 0;
  virtual void publish(const Target& target, protocol::InvocationMessage message,
                       std::optional<Ordering> ordering = std::nullopt) = 0;
};

// Delivers every publish synchronously to the local sink: one process, no network.
class InProcessBackplane final : public Backplane {
 public:
  void setLocalSink(LocalSink* sink) override { sink_ = sink; }
  void publish(const Target& target, protocol::InvocationMessage message,
               std::optional<Ordering> ordering) override {
    if (sink_) sink_->deliverLocal(target, std::move(message), std::move(ordering));
  }

 private:
  LocalSink* sink_ = nullptr;
};

using BackplanePtr = std::unique_ptr<Backplane>;

}  // namespace herald::backplane
