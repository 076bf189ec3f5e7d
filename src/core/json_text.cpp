#include "core/json_text.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

namespace herald::core {

namespace {

// True when one of the eight bytes in `w` is below 0x20, '"' or '\\' (the classic
// "has a zero byte" bit trick, applied three times): text is checked a word at a time.
bool wordNeedsEscape(std::uint64_t w) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  auto hasZero = [](std::uint64_t x) { return (x - ones) & ~x & highs; };
  const std::uint64_t below20 = (w - ones * 0x20) & ~w & highs;
  return (below20 | hasZero(w ^ (ones * '"')) | hasZero(w ^ (ones * '\\'))) != 0;
}

}  // namespace

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet copied
  std::size_t i = 0;
  // Most text has nothing to escape: skip it eight bytes at a time.
  while (i + 8 <= s.size()) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (wordNeedsEscape(w)) break;
    i += 8;
  }
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\t': out += 't'; break;
      case '\n': out += 'n'; break;
      case '\f': out += 'f'; break;
      case '\r': out += 'r'; break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void appendJsonInteger(std::string& out, std::int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, end);
}

void appendJsonDouble(std::string& out, double value) {
  // Boost.JSON's own formatting (its shortest round-trip form; NaN and the infinities,
  // which parsed JSON never holds, as Boost prints them), read through a serializer into
  // a stack buffer (a scalar needs no allocation).
  boost::json::value v(value);
  boost::json::serializer sr;
  sr.reset(&v);
  char buf[64];
  while (!sr.done()) out.append(sr.read(buf, sizeof buf));
}

void appendJsonNumber(std::string& out, double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9e15) {
    appendJsonInteger(out, static_cast<std::int64_t>(value));
  } else {
    appendJsonDouble(out, value);
  }
}

}  // namespace herald::core
