#pragma once
// Offline English recognition with CMU pocketsphinx (0.8 / 5prealpha C API) and the
// Debian en-us models: no network, no GPU, roughly 0.2x real time on one core. Accuracy is
// modest (around a third of words wrong on read speech) but enough for search and
// captions-as-a-draft.
//
// Each transcribe() call builds its own decoder (~0.25 s of model loading) because a
// ps_decoder_t is not thread-safe; that keeps concurrent jobs independent at a small fixed
// cost. Model loading itself is serialised, as pocketsphinx initialisation touches
// process-wide state (its logger and front-end warping tables).
//
// pocketsphinx logs through a process-wide callback; the first recogniser routes it to
// spdlog (errors as warnings, warnings as debug, chatter dropped).
//
// Known limit: sphinxbase calls exit() on some internal "fatal" errors (e.g. a corrupt
// model file). Only existence of the model files is checked up front.
#include <string>

#include "pipeline/errors.h"
#include "pipeline/recognizer.h"

namespace herald::pipeline {

struct PocketsphinxModel {
  std::string hmm = "/usr/share/pocketsphinx/model/en-us/en-us";  // acoustic model directory
  std::string lm = "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin";
  std::string dict = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";
};

class PocketsphinxRecognizer final : public Recognizer {
 public:
  // Throws ModelError naming the first missing model file or directory.
  explicit PocketsphinxRecognizer(PocketsphinxModel model = {});

  // Splits the audio into utterances where pocketsphinx's voice-activity detector sees
  // silence, so long recordings give one segment per stretch of speech. Fillers (<s>,
  // <sil>, [NOISE], ...) are dropped and alternate pronunciations ("the(2)") are reported
  // as the word. Throws MediaError (not a 16 kHz mono 16-bit PCM WAV, unreadable, decoder
  // failure), ModelError (decoder could not be created), Cancelled (checked every 0.5 s
  // of audio), and rethrows what onProgress throws.
  std::vector<Segment> transcribe(const std::string& wav16kMono,
                                  std::function<void(double fraction)> onProgress,
                                  const std::atomic<bool>* cancel) override;

  std::string name() const override { return "pocketsphinx-en-us"; }
  const PocketsphinxModel& model() const { return model_; }

 private:
  PocketsphinxModel model_;
};

}  // namespace herald::pipeline
