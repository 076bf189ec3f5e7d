// Design: ffprobe's JSON is parsed defensively. Every field is optional and numbers arrive
// as strings ("3.000000"), so each lookup checks the kind and falls back instead of
// throwing; only "this is not media" or "there is no audio" become errors.
#include "pipeline/media_probe.h"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/strings.h"
#include "pipeline/media_input.h"
#include "jobs/processor.h"
#include "pipeline/process_runner.h"

namespace herald::pipeline {
namespace {

namespace json = boost::json;

constexpr std::chrono::seconds kProbeTimeout{60};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// The last non-empty stderr line is the tool's verdict; earlier ones are usually context.
std::string lastLine(std::string_view text) {
  text = trim(text);
  auto nl = text.rfind('\n');
  return std::string(trim(nl == std::string_view::npos ? text : text.substr(nl + 1)));
}

const json::object* objectAt(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_object() ? &it->value().get_object() : nullptr;
}

std::string_view stringAt(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) return {};
  return it->value().get_string();
}

// ffprobe writes durations as strings; from_chars keeps this independent of the locale.
double secondsAt(const json::object& o, std::string_view key) {
  auto text = stringAt(o, key);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || !std::isfinite(value) || value < 0) return 0;
  return value;
}

bool isAttachedPicture(const json::object& stream) {
  const auto* disposition = objectAt(stream, "disposition");
  if (!disposition) return false;
  auto it = disposition->find("attached_pic");
  return it != disposition->end() && it->value().is_int64() && it->value().get_int64() == 1;
}

std::string titleTag(const json::object& format) {
  const auto* tags = objectAt(format, "tags");
  if (!tags) return {};
  // Matroska and Ogg spell it TITLE; MP4 and MP3 title.
  for (const auto& [key, value] : *tags) {
    if (core::iequals(key, "title") && value.is_string()) {
      return std::string(trim(value.get_string()));
    }
  }
  return {};
}

MediaInfo interpret(const json::object& root, const std::string& path) {
  MediaInfo info;
  double longestStream = 0;
  auto streams = root.find("streams");
  if (streams != root.end() && streams->value().is_array()) {
    for (const auto& s : streams->value().get_array()) {
      if (!s.is_object()) continue;
      const auto& stream = s.get_object();
      auto type = stringAt(stream, "codec_type");
      if (type == "audio") info.hasAudio = true;
      if (type == "video" && !isAttachedPicture(stream)) info.hasVideo = true;
      longestStream = std::max(longestStream, secondsAt(stream, "duration"));
    }
  }
  if (const auto* format = objectAt(root, "format")) {
    info.durationSeconds = secondsAt(*format, "duration");
    info.title = titleTag(*format);
  }
  if (info.durationSeconds <= 0) info.durationSeconds = longestStream;
  if (info.title.empty()) info.title = std::filesystem::path(path).stem().string();
  return info;
}

}  // namespace

MediaInfo probeMedia(const std::string& path, const std::string& ffprobe) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw MediaError("file not found: " + path);

  std::string output;
  ProcessOptions opts;
  opts.timeout = kProbeTimeout;
  opts.onStdoutLine = [&output](std::string_view line) {
    output.append(line);
    output.push_back('\n');
  };
  // media_input.h: only this one local file, in a single-file container.
  std::vector<std::string> args{ffprobe, "-v",           "error",        "-print_format",
                                "json",  "-show_format", "-show_streams"};
  for (auto& a : mediaInputArgs(path)) args.push_back(std::move(a));
  auto result = runProcess(args, opts);
  if (jobs::isResourceShortage(result.errorNumber)) {
    throw jobs::ResourceShortage("cannot run ffprobe: " + result.error);
  }
  if (!result.error.empty()) throw MediaError("cannot run ffprobe: " + result.error);
  if (result.timedOut) throw MediaError("ffprobe timed out reading " + path);
  if (result.exitCode != 0) {
    if (refusedByWhitelist(result.stderrTail)) {
      throw MediaError("not a media file Herald reads: " + path +
                       " (a playlist, manifest or other container that names further files "
                       "or addresses is refused)");
    }
    auto why = lastLine(result.stderrTail);
    // ffprobe prefixes its message with the input name; the caller already knows it.
    const std::string prefix = "file:" + path + ": ";
    if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
    throw MediaError("not a media file: " + path + (why.empty() ? "" : " (" + why + ")"));
  }

  json::error_code parseError;
  json::value root = json::parse(output, parseError);
  if (parseError || !root.is_object()) {
    throw MediaError("cannot read ffprobe's report on " + path + ": " +
                     (parseError ? parseError.message() : std::string("not a JSON object")));
  }
  MediaInfo info = interpret(root.get_object(), path);
  if (!info.hasAudio && !info.hasVideo) throw MediaError("not a media file: " + path);
  if (!info.hasAudio) throw MediaError("no audio stream in " + path);
  return info;
}

}  // namespace herald::pipeline
