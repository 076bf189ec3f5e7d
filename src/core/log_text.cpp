#include "core/log_text.h"

#include <cstddef>

namespace herald::core {

namespace {

constexpr char kHex[] = "0123456789abcdef";

bool plain(unsigned char c) { return c >= 0x20 && c != 0x7f && c != '\\' && c != 0xc2; }

}  // namespace

void appendLogText(std::string& out, std::string_view s) {
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (plain(c)) continue;
    // 0xC2 starts U+0080..U+00BF; only U+0080..U+009F (C1 controls) are escaped.
    const bool c1 = c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(s[i + 1]) <= 0x9f;
    if (c == 0xc2 && !c1) continue;
    out.append(s.data() + run, i - run);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case 0xc2: {
        const auto next = static_cast<unsigned char>(s[++i]);
        out += "\\u00";
        out += kHex[next >> 4];
        out += kHex[next & 15];
        break;
      }
      default:
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

std::string logText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  appendLogText(out, s);
  return out;
}

}  // namespace herald::core
