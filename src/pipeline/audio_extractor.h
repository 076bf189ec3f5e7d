#pragma once
// Turns any media file into the one format the recogniser accepts: 16 kHz, mono, 16-bit PCM
// WAV. Resampling and down-mixing are left to ffmpeg, which does both well and reads every
// container we are likely to be sent.
//
// Thread safety: extractAudio is reentrant; callbacks run on the calling thread.
#include <atomic>
#include <functional>
#include <string>

#include "pipeline/errors.h"

namespace herald::pipeline {

// Runs `ffmpeg -nostdin -y -i <input> -vn -ac 1 -ar 16000 -c:a pcm_s16le -f wav <output>`
// with `-progress pipe:1` and reports progress as ffmpeg's output position over
// durationSeconds: onProgress (optional) receives non-decreasing values in [0, 1] and
// exactly one final 1.0 on success. Pass durationSeconds <= 0 when unknown; then only the
// final 1.0 is reported. Paths are always treated as local files.
//
// Throws MediaError (with ffmpeg's own error text) on failure, "no audio stream in ..."
// when there is nothing to extract, Cancelled once *cancel becomes true (checked about
// every 50 ms), and rethrows whatever onProgress throws after stopping ffmpeg. On any
// failure the (partial) output file is removed.
void extractAudio(const std::string& input, const std::string& outputWav, double durationSeconds,
                  std::function<void(double fraction)> onProgress, const std::atomic<bool>* cancel,
                  const std::string& ffmpeg = "ffmpeg");

}  // namespace herald::pipeline
