#pragma once
// A hub message to fan out, serialised lazily once per protocol and then shared by
// every recipient connection (the frame bytes are immutable and reference counted).
//
// Thread safety: frameFor() may be called from any thread.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "protocol/signalr/hub_protocol.h"

namespace herald::hub {

using Frame = std::string;
using FramePtr = std::shared_ptr<const Frame>;

// Identifies a per-job ordered event: a connection never delivers a sequence at or
// below one it already delivered for the same job (see HubConnection::enqueue).
struct OrderKey {
  std::string jobId;
  std::int64_t sequence = 0;
};

class SerializedMessage {
 public:
  // `recordedAt`: see backplane::Envelope::recordedAt (0: not timed).
  explicit SerializedMessage(protocol::HubMessage message, std::optional<OrderKey> key = {},
                             std::int64_t recordedAt = 0)
      : message_(std::move(message)), orderKey_(std::move(key)), recordedAt_(recordedAt) {}

  // Returns the framed bytes for `protocol`, serialising on first use.
  FramePtr frameFor(const protocol::HubProtocol& protocol) const;

  const std::optional<OrderKey>& orderKey() const { return orderKey_; }
  const protocol::HubMessage& message() const { return message_; }
  std::int64_t recordedAt() const { return recordedAt_; }

 private:
  protocol::HubMessage message_;
  std::optional<OrderKey> orderKey_;
  std::int64_t recordedAt_ = 0;
  mutable std::mutex mutex_;
  // Few protocols exist (json, messagepack): a tiny linear cache keyed by protocol.
  mutable const protocol::HubProtocol* cachedProtocol_[2] = {nullptr, nullptr};
  mutable FramePtr cachedFrame_[2];
};

using SerializedMessagePtr = std::shared_ptr<const SerializedMessage>;

}  // namespace herald::hub
