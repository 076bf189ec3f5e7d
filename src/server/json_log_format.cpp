#include "server/json_log_format.h"

#include <memory>
#include <string>

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include "core/json_text.h"

namespace herald::server {

namespace {

// %* : the message as a JSON string literal (quotes included).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string text;
    core::appendJsonString(text, std::string_view(msg.payload.data(), msg.payload.size()));
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
