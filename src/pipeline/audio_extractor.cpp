// Design: progress comes from `-progress pipe:1`, which prints key=value lines in blocks
// ending with progress=continue|end. In ffmpeg 5 both out_time_us and (misnamed)
// out_time_ms are microseconds, so either is accepted. Values can be "N/A" or briefly
// negative at the start, and can overshoot the probed duration slightly, hence the
// clamping and the "never go backwards" rule.
#include "pipeline/audio_extractor.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "pipeline/media_input.h"
#include "jobs/processor.h"
#include "pipeline/process_runner.h"

namespace herald::pipeline {
namespace {

// Reports monotonic fractions; remembers the last one so repeats are suppressed.
class ProgressTracker {
 public:
  ProgressTracker(double durationSeconds, std::function<void(double)>& callback)
      : duration_(durationSeconds), callback_(callback) {}

  void onLine(std::string_view line) {
    if (line == "progress=end") {
      report(1.0);
      return;
    }
    std::string_view value;
    // Both in microseconds: ffmpeg's out_time_ms is misnamed (it equals out_time_us).
    if (line.starts_with("out_time_us=") || line.starts_with("out_time_ms=")) {
      value = line.substr(12);
    } else {
      return;
    }
    std::int64_t micros = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), micros);
    if (ec != std::errc{} || micros < 0 || duration_ <= 0) return;
    report(std::min(1.0, static_cast<double>(micros) / 1e6 / duration_));
  }

  void finish() { report(1.0); }

 private:
  void report(double fraction) {
    if (fraction <= last_) return;
    last_ = fraction;
    if (callback_) callback_(fraction);
  }

  double duration_;
  std::function<void(double)>& callback_;
  double last_ = 0;  // 0 itself is never reported: it says nothing
};

void removeQuietly(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

std::string describeFailure(const std::string& input, const ProcessResult& r) {
  if (refusedByWhitelist(r.stderrTail)) {
    return "not a media file Herald reads: " + input +
           " (a playlist, manifest or other container that names further files or addresses "
           "is refused)";
  }
  if (r.stderrTail.find("does not contain any stream") != std::string::npos ||
      r.stderrTail.find("matches no streams") != std::string::npos) {
    return "no audio stream in " + input;
  }
  std::string message = "ffmpeg could not extract audio from " + input + " (exit code " +
                        std::to_string(r.exitCode) + ")";
  auto tail = r.stderrTail;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.pop_back();
  if (!tail.empty()) message += ": " + tail;
  return message;
}

}  // namespace

void extractAudio(const std::string& input, const std::string& outputWav, double durationSeconds,
                  std::function<void(double fraction)> onProgress, const std::atomic<bool>* cancel,
                  const std::string& ffmpeg) {
  std::error_code ec;
  if (!std::filesystem::exists(input, ec)) throw MediaError("file not found: " + input);
  if (cancel && cancel->load()) throw Cancelled();

  ProgressTracker progress(durationSeconds, onProgress);
  ProcessOptions opts;
  opts.cancel = cancel;
  opts.onStdoutLine = [&progress](std::string_view line) { progress.onLine(line); };
  // Global options come first: ffmpeg ignores (with a warning) options after the last
  // output. The input is confined to this one local file (media_input.h); "file:" keeps
  // the output name from being read as an option or protocol.
  std::vector<std::string> args{ffmpeg,     "-nostdin",  "-hide_banner", "-loglevel", "error",
                                "-nostats", "-progress", "pipe:1",       "-y"};
  for (auto& a : mediaInputArgs(input)) args.push_back(std::move(a));
  for (const char* a :
       {"-vn", "-sn", "-dn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", "-f", "wav"}) {
    args.emplace_back(a);
  }
  args.push_back("file:" + outputWav);
  ProcessResult result;
  try {
    result = runProcess(args, opts);
  } catch (...) {
    removeQuietly(outputWav);  // onProgress threw; ffmpeg is already stopped
    throw;
  }
  if (jobs::isResourceShortage(result.errorNumber)) {
    throw jobs::ResourceShortage("cannot run ffmpeg: " + result.error);
  }
  if (!result.error.empty()) throw MediaError("cannot run ffmpeg: " + result.error);
  if (result.cancelled) {
    removeQuietly(outputWav);
    throw Cancelled();
  }
  if (result.exitCode != 0) {
    removeQuietly(outputWav);
    throw MediaError(describeFailure(input, result));
  }
  try {
    progress.finish();
  } catch (...) {
    removeQuietly(outputWav);
    throw;
  }
}

}  // namespace herald::pipeline
