#include "server/json_log_format.h"

#include <memory>
#include <string>
#include <utility>

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include "core/json_text.h"

namespace herald::server {

namespace {

// JSON escapes C0 controls but lets DEL and the C1 controls (U+0080..U+009F, which some
// terminals obey like ESC [) through raw; someone reading the file with `tail` should not
// have a client's value drive their terminal, so they become \u escapes too (valid JSON,
// the same text once parsed).
void escapeTerminalControls(std::string& text) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto control = [&](std::size_t i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == 0x7f) return 1;
    if (c == 0xc2 && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9f) return 2;
    }
    return 0;
  };
  std::size_t i = 0;
  while (i < text.size() && control(i) == 0) ++i;
  if (i == text.size()) return;  // the common case: nothing to do
  std::string out(text, 0, i);
  for (; i < text.size(); ++i) {
    const int n = control(i);
    if (n == 0) {
      out += text[i];
      continue;
    }
    const auto code = static_cast<unsigned char>(text[i + n - 1]);
    out += "\\u00";
    out += kHex[code >> 4];
    out += kHex[code & 15];
    i += n - 1;
  }
  text = std::move(out);
}

// %* : the message as a JSON string literal (quotes included).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string text;
    core::appendJsonString(text, std::string_view(msg.payload.data(), msg.payload.size()));
    escapeTerminalControls(text);
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

void useJsonLogFormat() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessageFlag>('*').set_pattern(
      R"({"timestamp":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"herald","thread":%t,"message":%*})");
  spdlog::set_formatter(std::move(formatter));
}

}  // namespace herald::server
