#include "protocol/signalr/messages.h"

namespace herald::protocol {

bool isTrackable(const HubMessage& message) {
  return std::holds_alternative<InvocationMessage>(message) ||
         std::holds_alternative<StreamItemMessage>(message) ||
         std::holds_alternative<CompletionMessage>(message) ||
         std::holds_alternative<StreamInvocationMessage>(message) ||
         std::holds_alternative<CancelInvocationMessage>(message);
}

}  // namespace herald::protocol
