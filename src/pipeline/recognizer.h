#pragma once
// The speech-to-text seam. Jobs depend on this interface, not on pocketsphinx, so a better
// engine (or a fake in tests) can be swapped in without touching job code.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace herald::pipeline {

// One recognised stretch of speech. Times are seconds from the start of the audio.
struct Segment {
  double start = 0;
  double end = 0;
  std::string text;
};

class Recognizer {
 public:
  virtual ~Recognizer() = default;

  // Transcribes a 16 kHz mono 16-bit PCM WAV file. Segments come back in time order and do
  // not overlap. onProgress (optional) receives non-decreasing fractions in [0, 1], ending
  // with 1.0 once the result is complete. Implementations must allow concurrent calls on
  // one instance and document their exceptions; the expected ones are MediaError (bad
  // input), ModelError (engine could not load) and Cancelled (*cancel became true).
  virtual std::vector<Segment> transcribe(const std::string& wav16kMono,
                                          std::function<void(double fraction)> onProgress,
                                          const std::atomic<bool>* cancel) = 0;

  // Short engine identifier for logs and stored results, e.g. "pocketsphinx-en-us".
  virtual std::string name() const = 0;
};

}  // namespace herald::pipeline
