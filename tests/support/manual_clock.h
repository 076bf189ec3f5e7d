#pragma once
// A clock that moves only when a test says so (ASP.NET's FakeTimeProvider, Envoy's
// SimulatedTimeSystem): give it to code through HubServices::clock, then advance() it
// and call the code's tick instead of sleeping.
//
// Thread safety: reads and advance() may come from any thread (atomics); advancing
// while another thread reads gives it either the old or the new time.
#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/clock.h"

namespace herald::test {

class ManualClock final : public core::Clock {
 public:
  // Starts at an arbitrary, non-zero steady time and at 2024-01-01T00:00:00Z.
  explicit ManualClock(std::int64_t systemMillis = 1'704'067'200'000) : system_(systemMillis) {}

  SteadyTime steadyNow() const override {
    return SteadyTime(std::chrono::steady_clock::duration(steady_.load()));
  }
  std::int64_t systemNowMillis() const override { return system_.load(); }

  // Moves both clocks forward by `d` (rounded down to milliseconds for the system clock).
  void advance(std::chrono::steady_clock::duration d) {
    steady_ += d.count();
    system_ += std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }
  // Sets the wall clock alone (a jump, as NTP may make); the steady clock is unmoved.
  void setSystemMillis(std::int64_t ms) { system_ = ms; }

 private:
  std::atomic<std::chrono::steady_clock::rep> steady_{
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::hours(1))
          .count()};
  std::atomic<std::int64_t> system_;
};

}  // namespace herald::test
