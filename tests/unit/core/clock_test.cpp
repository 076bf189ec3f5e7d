#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <random>

#include "core/clock.h"

using herald::core::isoFromMillis;

namespace {

// The reference: the C library's calendar, formatted the obvious way.
std::string reference(std::int64_t ms) {
  std::int64_t secs = ms / 1000;
  std::int64_t millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return buf;
}

}  // namespace

TEST(Clock, FormatsKnownInstants) {
  EXPECT_EQ(isoFromMillis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(isoFromMillis(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(isoFromMillis(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(isoFromMillis(1795701139123), "2026-11-26T13:52:19.123Z");
  EXPECT_EQ(isoFromMillis(253402300799999), "9999-12-31T23:59:59.999Z");
}

TEST(Clock, AgreesWithTheCLibraryEverywhere) {
  std::mt19937_64 rng(7);
  // Years 0001 to 9999, and the leap-year edges around every fourth year.
  std::uniform_int_distribution<std::int64_t> any(-62135596800000, 253402300799999);
  for (int i = 0; i < 200000; ++i) {
    auto ms = any(rng);
    ASSERT_EQ(isoFromMillis(ms), reference(ms)) << ms;
  }
  for (std::int64_t day = -800000; day < 800000; day += 97) {
    auto ms = day * 86400000 + 86399999;
    ASSERT_EQ(isoFromMillis(ms), reference(ms)) << ms;
  }
}

// Past 9999-12-31 isoFromMillis leaves its fast path for the C library's calendar, the
// same code reference() runs, so comparing the two would prove nothing. The expected
// strings are worked out by hand instead: one millisecond after 9999-12-31T23:59:59.999Z
// (FormatsKnownInstants), and whole 400-year Gregorian cycles (146,097 days, i.e.
// 12,622,780,800,000 ms, which keep month, day and weekday) after known instants.
TEST(Clock, YearsBeyondFourDigitsStillFormat) {
  constexpr std::int64_t kCycle = 146097LL * 86400000;
  static_assert(kCycle == 12622780800000);
  // 253402300799999 + 1
  EXPECT_EQ(isoFromMillis(253402300800000), "10000-01-01T00:00:00.000Z");
  // 10000-01-01 + one cycle
  EXPECT_EQ(isoFromMillis(266025081600000), "10400-01-01T00:00:00.000Z");
  // 2000-02-29 + 13:52:19.123 + 20 cycles: year 10000 is a leap year (divisible by 400).
  EXPECT_EQ(isoFromMillis(951782400000 + 49939123 + 20 * kCycle), "10000-02-29T13:52:19.123Z");
  EXPECT_EQ(isoFromMillis(253407448339123), "10000-02-29T13:52:19.123Z");
  // The last millisecond of year 10000: 2000-12-31T23:59:59.999Z is 978307199999.
  EXPECT_EQ(isoFromMillis(978307199999 + 20 * kCycle), "10000-12-31T23:59:59.999Z");
}
