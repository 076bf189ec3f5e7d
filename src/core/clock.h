#pragma once
// Wall-clock helpers. Timestamps travel as ISO-8601 UTC strings with millisecond
// precision ("2024-01-02T03:04:05.678Z"), the shape JS Date and .NET both read.
#include <chrono>
#include <cstdint>
#include <string>

namespace herald::core {

using SystemTime = std::chrono::system_clock::time_point;

// Milliseconds since the Unix epoch; the unit we store.
std::int64_t nowMillis();
std::string isoFromMillis(std::int64_t ms);
std::string isoNow();

}  // namespace herald::core
