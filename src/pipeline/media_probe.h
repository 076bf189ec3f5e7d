#pragma once
// What the pipeline needs to know about an uploaded file before working on it: how long it
// is (to turn ffmpeg's position into a fraction), what to call it, and whether it has
// anything to transcribe. ffprobe answers all three for every container ffmpeg can read,
// so we ask it rather than parsing containers ourselves.
//
// Thread safety: probeMedia is reentrant.
#include <string>

#include "pipeline/errors.h"

namespace herald::pipeline {

struct MediaInfo {
  // Container duration, else the longest stream's; 0 when ffprobe cannot tell (e.g. some
  // raw streams), which callers should treat as "unknown".
  double durationSeconds = 0;
  // The container's title tag (any case), else the file name without its extension.
  std::string title;
  bool hasAudio = false;
  // Cover art (an attached picture, as in MP3s) does not count as video.
  bool hasVideo = false;
};

// Runs `ffprobe -v error -print_format json -show_format -show_streams` on `path` (always
// read as a local file, never as a URL or an option, whatever its name looks like).
// Throws MediaError: "file not found: ...", "not a media file: ... (<ffprobe's message>)",
// "no audio stream in ..." (the pipeline has nothing to transcribe, so hasAudio is always
// true on return), or "cannot run ffprobe: ..." when the tool itself is missing. ffprobe
// gets 60 s before it is considered hung.
MediaInfo probeMedia(const std::string& path, const std::string& ffprobe = "ffprobe");

}  // namespace herald::pipeline
