#include "core/json_text.h"

#include <charconv>
#include <cmath>
#include <cstring>

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
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  if (value == 0) {  // both zeros: JavaScript prints -0 as 0 too
    out += '0';
    return;
  }
  // Shortest round-trip digits in scientific form: "d[.ddd]e[+-]XX".
  char sci[32];
  auto [end, ec] = std::to_chars(sci, sci + sizeof sci, value, std::chars_format::scientific);
  const char* p = sci;
  if (*p == '-') {
    out += '-';
    ++p;
  }
  char digits[20];
  int k = 0;
  const char* e = p;
  for (; e < end && *e != 'e'; ++e) {
    if (*e != '.') digits[k++] = *e;
  }
  int exp10 = 0;
  std::from_chars(e[1] == '+' ? e + 2 : e + 1, end, exp10);
  // ECMA-262 Number::toString: value = 0.digits * 10^n.
  const int n = exp10 + 1;
  if (k <= n && n <= 21) {
    out.append(digits, static_cast<std::size_t>(k));
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, static_cast<std::size_t>(n));
    out += '.';
    out.append(digits + n, static_cast<std::size_t>(k - n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out.append(digits, static_cast<std::size_t>(k));
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out.append(digits + 1, static_cast<std::size_t>(k - 1));
    }
    out += 'e';
    out += n - 1 < 0 ? '-' : '+';
    appendJsonInteger(out, n - 1 < 0 ? 1 - n : n - 1);
  }
}

void appendJsonNumber(std::string& out, double value) { appendJsonDouble(out, value); }

void appendJson(std::string& out, const boost::json::object& o) {
  out += '{';
  bool first = true;
  for (const auto& kv : o) {
    if (!first) out += ',';
    first = false;
    appendJsonString(out, kv.key());
    out += ':';
    appendJson(out, kv.value());
  }
  out += '}';
}

void appendJson(std::string& out, const boost::json::array& a) {
  out += '[';
  bool first = true;
  for (const auto& e : a) {
    if (!first) out += ',';
    first = false;
    appendJson(out, e);
  }
  out += ']';
}

void appendJson(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: appendJsonInteger(out, v.get_int64()); break;
    case boost::json::kind::uint64: {
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.get_uint64());
      out.append(buf, end);
      break;
    }
    case boost::json::kind::double_: appendJsonDouble(out, v.get_double()); break;
    case boost::json::kind::string: appendJsonString(out, v.get_string()); break;
    case boost::json::kind::array: appendJson(out, v.get_array()); break;
    case boost::json::kind::object: appendJson(out, v.get_object()); break;
  }
}

std::string toJson(const boost::json::value& v) {
  std::string out;
  appendJson(out, v);
  return out;
}

std::string toJson(const boost::json::object& v) {
  std::string out;
  appendJson(out, v);
  return out;
}

std::string toJson(const boost::json::array& v) {
  std::string out;
  appendJson(out, v);
  return out;
}

}  // namespace herald::core
