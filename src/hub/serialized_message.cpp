#include "hub/serialized_message.h"

namespace herald::hub {

FramePtr SerializedMessage::frameFor(const protocol::HubProtocol& protocol) const {
  std::lock_guard lock(mutex_);
  for (int i = 0; i < 2; ++i) {
    if (cachedProtocol_[i] == &protocol) return cachedFrame_[i];
  }
  auto frame = std::make_shared<Frame>();
  protocol.write(message_, *frame);
  for (int i = 0; i < 2; ++i) {
    if (!cachedProtocol_[i]) {
      cachedProtocol_[i] = &protocol;
      cachedFrame_[i] = frame;
      break;
    }
  }
  return frame;
}

}  // namespace herald::hub
