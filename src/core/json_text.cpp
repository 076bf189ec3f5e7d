#include "core/json_text.h"

#include <charconv>
#include <cmath>

#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

namespace herald::core {

void appendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
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
