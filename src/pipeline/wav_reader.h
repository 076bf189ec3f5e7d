#pragma once
// Streams 16-bit PCM samples out of a RIFF/WAVE file without loading it whole (an hour of
// 16 kHz audio is 115 MB). Only what ffmpeg and common tools write is accepted: a "fmt "
// chunk with PCM (format 1, or WAVE_FORMAT_EXTENSIBLE with a PCM sub-format) at 16 bits,
// and a "data" chunk; other chunks (LIST, fact, ...) are skipped. RF64 is not supported.
//
// The header is untrusted input: every size is checked against the file, and any problem
// becomes a MediaError naming the file, never a crash or a huge allocation.
//
// Thread safety: one reader per thread.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "pipeline/errors.h"

namespace herald::pipeline {

class WavReader {
 public:
  // Opens and validates the header. Throws MediaError.
  explicit WavReader(const std::string& path);

  int sampleRate() const { return sampleRate_; }
  int channels() const { return channels_; }
  // 16-bit samples in the data chunk, all channels together (they are interleaved).
  std::size_t totalSamples() const { return totalSamples_; }

  // Reads up to `max` samples (native byte order) into `out`; returns how many were read,
  // 0 at the end. Throws MediaError if the file cannot be read.
  std::size_t read(std::int16_t* out, std::size_t max);

 private:
  std::string path_;
  std::ifstream file_;
  int sampleRate_ = 0;
  int channels_ = 0;
  std::size_t totalSamples_ = 0;
  std::size_t remaining_ = 0;
};

}  // namespace herald::pipeline
