#pragma once
// A minimal single-threaded epoll loop. Level-triggered: a readable socket gets one
// read per wake-up, and the next epoll_wait reports it again if more is waiting, so a
// busy socket cannot starve the others.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "common.h"

namespace loadgen {

class IoHandler {
 public:
  virtual ~IoHandler() = default;
  virtual void onIo(std::uint32_t events) = 0;
};

class Loop {
 public:
  Loop() : fd_(epoll_create1(EPOLL_CLOEXEC)), events_(1024), scratch_(256 * 1024) {
    if (fd_ < 0) throw std::runtime_error("epoll_create1 failed");
  }
  ~Loop() { ::close(fd_); }

  void add(int fd, IoHandler* h, std::uint32_t events) { ctl(EPOLL_CTL_ADD, fd, h, events); }
  void modify(int fd, IoHandler* h, std::uint32_t events) { ctl(EPOLL_CTL_MOD, fd, h, events); }
  void remove(int fd) { epoll_ctl(fd_, EPOLL_CTL_DEL, fd, nullptr); }

  // Waits until something is ready or `untilNs` (absolute, nowNs clock) and dispatches.
  // Returns the number of events handled.
  int poll(std::int64_t untilNs) {
    std::int64_t wait = untilNs - nowNs();
    if (wait < 0) wait = 0;
    timespec ts{static_cast<time_t>(wait / kSec), static_cast<long>(wait % kSec)};
    int n = epoll_pwait2(fd_, events_.data(), static_cast<int>(events_.size()), &ts, nullptr);
    if (n < 0) {
      if (errno == EINTR) return 0;
      throw std::runtime_error("epoll_pwait2 failed");
    }
    for (int i = 0; i < n; ++i) {
      static_cast<IoHandler*>(events_[i].data.ptr)->onIo(events_[i].events);
    }
    return n;
  }

  // One shared read buffer: reads are handled to completion before the next one.
  char* scratch() { return scratch_.data(); }
  std::size_t scratchSize() const { return scratch_.size(); }

 private:
  void ctl(int op, int fd, IoHandler* h, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = h;
    if (epoll_ctl(fd_, op, fd, &ev) != 0) {
      throw std::runtime_error("epoll_ctl failed: " + std::to_string(errno));
    }
  }

  int fd_;
  std::vector<epoll_event> events_;
  std::vector<char> scratch_;
};

}  // namespace loadgen
