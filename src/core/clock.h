#pragma once
// Time sources and wall-clock helpers. Timestamps travel as ISO-8601 UTC strings with
// millisecond precision ("2024-01-02T03:04:05.678Z"), the shape JS Date and .NET both read.
//
// Code that takes decisions from time (handshake and client timeouts, keep-alive pings,
// the close timeout) reads it through a `const Clock&` it is given (hub::HubServices
// carries one), so tests substitute a manual clock and advance it instead of sleeping
// (tests/support/manual_clock.h). Asio timers still do the real waiting; they only say
// when to look, the injected clock says what time it is. The hot delivery path reads no
// clock at all.
#include <chrono>
#include <cstdint>
#include <string>

namespace herald::core {

using SystemTime = std::chrono::system_clock::time_point;

// A source of time. Implementations are thread-safe; the process has one SystemClock
// (systemClock()), tests make ManualClocks.
class Clock {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  virtual ~Clock() = default;
  // Monotonic time, for intervals and timeouts.
  virtual SteadyTime steadyNow() const = 0;
  // Milliseconds since the Unix epoch, for timestamps that are stored or sent.
  virtual std::int64_t systemNowMillis() const = 0;
};

// The real clocks: std::chrono::steady_clock and system_clock.
class SystemClock final : public Clock {
 public:
  SteadyTime steadyNow() const override { return std::chrono::steady_clock::now(); }
  std::int64_t systemNowMillis() const override;
};

// The process-wide SystemClock (a function-local static; never destroyed before use).
const Clock& systemClock();

// Milliseconds since the Unix epoch from the real clock; the unit we store.
std::int64_t nowMillis();
std::string isoFromMillis(std::int64_t ms);
std::string isoNow();

}  // namespace herald::core
