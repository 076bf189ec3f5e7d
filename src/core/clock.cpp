#include "core/clock.h"

#include <cstdio>
#include <ctime>

namespace herald::core {

std::int64_t nowMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::int64_t SystemClock::systemNowMillis() const { return nowMillis(); }

const Clock& systemClock() {
  static const SystemClock clock;
  return clock;
}

namespace {

// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's civil_from_days).
// Hand-written because gmtime_r takes glibc's time-zone lock and snprintf parses its
// format: together ~25,000 instructions, paid several times for every progress report.
void civilFromDays(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

char* digits(char* out, std::int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

}  // namespace

std::string isoFromMillis(std::int64_t ms) {
  std::int64_t secs = ms / 1000;
  std::int64_t millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::int64_t days = secs / 86400;
  std::int64_t rest = secs % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  std::int64_t year;
  unsigned month, day;
  civilFromDays(days, year, month, day);
  if (year < 0 || year > 9999) {
    // Outside what four digits hold: the slow path formats it the way it always did.
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[80];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis));
    return buf;
  }
  char buf[24];
  char* p = digits(buf, year, 4);
  *p++ = '-';
  p = digits(p, month, 2);
  *p++ = '-';
  p = digits(p, day, 2);
  *p++ = 'T';
  p = digits(p, rest / 3600, 2);
  *p++ = ':';
  p = digits(p, rest / 60 % 60, 2);
  *p++ = ':';
  p = digits(p, rest % 60, 2);
  *p++ = '.';
  p = digits(p, millis, 3);
  *p++ = 'Z';
  return std::string(buf, p);
}

std::string isoNow() { return isoFromMillis(nowMillis()); }

}  // namespace herald::core
