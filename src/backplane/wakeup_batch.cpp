#include "backplane/wakeup_batch.h"

namespace herald::backplane {

namespace {
thread_local WakeupBatch* current = nullptr;
}

WakeupBatch::WakeupBatch() {
  if (!current) {
    current = this;
    owner_ = true;
  }
}

WakeupBatch::~WakeupBatch() {
  if (!owner_) return;
  current = nullptr;
  // A flush may open a batch of its own (and must not land in this one, now closing).
  auto flushes = std::move(flushes_);
  for (auto& f : flushes) f();
}

bool WakeupBatch::defer(std::function<void()> flush) {
  if (!current) return false;
  current->flushes_.push_back(std::move(flush));
  return true;
}

}  // namespace herald::backplane
