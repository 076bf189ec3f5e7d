// Design: audio is fed in 0.5 s chunks. After each chunk ps_get_in_speech() says whether
// the decoder's voice-activity detector is inside speech; on a speech -> silence
// transition the utterance is ended, its words collected, and a new one started. This
// gives natural segment boundaries and bounds the search space per utterance.
//
// Segment times come from the word frames of ps_seg_iter. In this pocketsphinx version
// frame numbers count from the start of the stream, silence included (verified against
// audio with known gaps), so frame / frate is the time in the file. If an utterance has a
// hypothesis but no word segmentation, the chunk positions where speech started and
// stopped are used instead.
#include "pipeline/pocketsphinx_recognizer.h"

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <system_error>

#include "pipeline/wav_reader.h"

namespace herald::pipeline {
namespace {

constexpr int kSampleRate = 16000;
constexpr std::size_t kChunkSamples = kSampleRate / 2;

// sphinxbase's logging callback is printf-style.
void forwardLog(void* /*user*/, err_lvl_t level, const char* fmt, ...) {
  if (level < ERR_WARN) return;
  char buf[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  std::string_view msg(buf);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.remove_suffix(1);
  if (level >= ERR_ERROR) {
    spdlog::warn("pocketsphinx: {}", msg);
  } else {
    spdlog::debug("pocketsphinx: {}", msg);
  }
}

std::mutex& initMutex() {
  static std::mutex m;
  return m;
}

struct ConfigFree {
  void operator()(cmd_ln_t* c) const { cmd_ln_free_r(c); }
};
struct DecoderFree {
  void operator()(ps_decoder_t* d) const { ps_free(d); }
};
using ConfigPtr = std::unique_ptr<cmd_ln_t, ConfigFree>;
using DecoderPtr = std::unique_ptr<ps_decoder_t, DecoderFree>;

// Frees a word iterator abandoned mid-walk (ps_seg_next frees it at the normal end).
struct SegIterGuard {
  ps_seg_t*& it;
  ~SegIterGuard() {
    if (it) ps_seg_free(it);
  }
};

bool isFiller(std::string_view word) {
  return word.empty() || word.front() == '<' || word.front() == '[' || word.starts_with("++");
}

// "the(2)" is the second pronunciation of "the".
std::string_view baseWord(std::string_view word) {
  auto paren = word.find('(');
  return paren == std::string_view::npos || paren == 0 ? word : word.substr(0, paren);
}

std::string joinWords(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) {
    if (!text.empty()) text += ' ';
    text += w;
  }
  return text;
}

// One decoding run over one file: owns the decoder and accumulates segments.
class Session {
 public:
  Session(const PocketsphinxModel& model, const std::string& path) : path_(path) {
    ConfigPtr config(cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", model.hmm.c_str(), "-lm",
                                 model.lm.c_str(), "-dict", model.dict.c_str(), nullptr));
    if (!config) throw ModelError("pocketsphinx rejected its configuration");
    frameRate_ = cmd_ln_int32_r(config.get(), "-frate");
    if (frameRate_ <= 0) frameRate_ = 100;
    std::lock_guard lock(initMutex());
    decoder_.reset(ps_init(config.get()));  // takes its own reference to the config
    if (!decoder_) throw ModelError("pocketsphinx could not load its model from " + model.hmm);
  }

  void start() {
    if (ps_start_utt(decoder_.get()) < 0) fail("cannot start an utterance");
    inSpeech_ = false;
  }

  // Feeds one chunk; closes the utterance if speech has just ended.
  void feed(const std::int16_t* samples, std::size_t count, std::size_t endSample) {
    if (ps_process_raw(decoder_.get(), samples, count, FALSE, FALSE) < 0) fail("decoding failed");
    const bool speech = ps_get_in_speech(decoder_.get()) != 0;
    if (speech && !inSpeech_) speechStartSample_ = endSample - count;
    if (!speech && inSpeech_) {
      finish(endSample);
      start();
      return;
    }
    inSpeech_ = speech;
  }

  void finish(std::size_t endSample) {
    if (ps_end_utt(decoder_.get()) < 0) fail("cannot end an utterance");
    collect(endSample);
  }

  std::vector<Segment> takeSegments(double totalSeconds) {
    // Keep segments inside the audio, ordered and non-overlapping, even if frames jitter.
    double previousEnd = 0;
    for (auto& s : segments_) {
      s.start = std::clamp(s.start, previousEnd, totalSeconds);
      s.end = std::clamp(s.end, s.start, totalSeconds);
      previousEnd = s.end;
    }
    return std::move(segments_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw MediaError("pocketsphinx: " + what + " in " + path_);
  }

  void collect(std::size_t endSample) {
    // Copied out: a word's text is only valid until the next ps_seg_next().
    std::vector<std::string> words;
    int firstFrame = -1;
    int lastFrame = -1;
    int lastAnyFrame = -1;  // fillers included: </s> ends where the fed audio ends
    ps_seg_t* it = ps_seg_iter(decoder_.get());
    SegIterGuard guard{it};
    for (; it; it = ps_seg_next(it)) {
      std::string_view word = ps_seg_word(it) ? ps_seg_word(it) : "";
      int sf = 0;
      int ef = 0;
      ps_seg_frames(it, &sf, &ef);
      lastAnyFrame = std::max(lastAnyFrame, ef);
      if (isFiller(word)) continue;
      if (firstFrame < 0) firstFrame = sf;
      lastFrame = std::max(lastFrame, ef);
      words.emplace_back(baseWord(word));
    }
    if (!words.empty()) {
      // This pocketsphinx numbers the frames of an utterance longer than about 7 s from a
      // shifted origin (found by an end-to-end test: words reported seconds after they
      // were spoken). The utterance's last frame is the end of the audio fed so far, so
      // anchor there; only a shift that puts frames beyond the fed audio is corrected.
      const auto fedFrames = static_cast<long long>(endSample) * frameRate_ / kSampleRate;
      const auto shift = fedFrames - (static_cast<long long>(lastAnyFrame) + 1);
      if (shift < 0) {
        firstFrame = static_cast<int>(std::max<long long>(0, firstFrame + shift));
        lastFrame = static_cast<int>(std::max<long long>(firstFrame, lastFrame + shift));
      }
      segments_.push_back({static_cast<double>(firstFrame) / frameRate_,
                           static_cast<double>(lastFrame + 1) / frameRate_, joinWords(words)});
      return;
    }
    const char* hyp = ps_get_hyp(decoder_.get(), nullptr);
    if (hyp && *hyp) {
      segments_.push_back({static_cast<double>(speechStartSample_) / kSampleRate,
                           static_cast<double>(endSample) / kSampleRate, hyp});
    }
  }

  std::string path_;
  DecoderPtr decoder_;
  int frameRate_ = 100;
  bool inSpeech_ = false;
  std::size_t speechStartSample_ = 0;
  std::vector<Segment> segments_;
};

void requireExists(const std::string& path, bool directory, const char* what) {
  std::error_code ec;
  const bool ok = directory ? std::filesystem::is_directory(path, ec)
                            : std::filesystem::is_regular_file(path, ec);
  if (!ok) {
    throw ModelError(std::string("pocketsphinx ") + what + " not found: " + path);
  }
}

}  // namespace

PocketsphinxRecognizer::PocketsphinxRecognizer(PocketsphinxModel model) : model_(std::move(model)) {
  requireExists(model_.hmm, true, "acoustic model directory");
  requireExists(model_.hmm + "/mdef", false, "acoustic model definition");
  requireExists(model_.lm, false, "language model");
  requireExists(model_.dict, false, "dictionary");
  static std::once_flag logRouted;
  std::call_once(logRouted, [] {
    // Messages go through the callback; the log FILE* is used only to dump the whole
    // configuration on every ps_init, which a disabled (NULL) log file suppresses.
    err_set_callback(&forwardLog, nullptr);
    err_set_logfp(nullptr);
  });
}

std::vector<Segment> PocketsphinxRecognizer::transcribe(
    const std::string& wav16kMono, std::function<void(double fraction)> onProgress,
    const std::atomic<bool>* cancel) {
  auto cancelled = [cancel] { return cancel && cancel->load(); };
  if (cancelled()) throw Cancelled();

  WavReader wav(wav16kMono);
  if (wav.sampleRate() != kSampleRate || wav.channels() != 1) {
    throw MediaError("expected 16 kHz mono audio in " + wav16kMono + ", got " +
                     std::to_string(wav.sampleRate()) + " Hz with " +
                     std::to_string(wav.channels()) + " channels");
  }
  const std::size_t total = wav.totalSamples();

  Session session(model_, wav16kMono);
  session.start();
  std::vector<std::int16_t> chunk(kChunkSamples);
  std::size_t consumed = 0;
  double reported = 0;
  while (true) {
    if (cancelled()) throw Cancelled();
    const std::size_t got = wav.read(chunk.data(), chunk.size());
    if (got == 0) break;
    consumed += got;
    session.feed(chunk.data(), got, consumed);
    // 1.0 is kept for "result ready"; ending the last utterance still takes a moment.
    const double fraction =
        std::min(0.99, static_cast<double>(consumed) / static_cast<double>(total));
    if (onProgress && fraction > reported) {
      reported = fraction;
      onProgress(fraction);
    }
  }
  session.finish(consumed);
  auto segments = session.takeSegments(static_cast<double>(total) / kSampleRate);
  if (onProgress) onProgress(1.0);
  return segments;
}

}  // namespace herald::pipeline
