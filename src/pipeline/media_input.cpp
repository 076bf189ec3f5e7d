#include "pipeline/media_input.h"

namespace herald::pipeline {

// Containers that hold their media themselves. Left out on purpose: hls, dash,
// webm_dash_manifest, concat, imf, image2 (patterns name other files), sdp and rtsp
// (network), lavfi, and anything that is really a device.
const char* const kMediaDemuxers =
    "mov,matroska,webm,mp3,aac,loas,ac3,eac3,dts,truehd,wav,w64,aiff,caf,au,flac,ogg,wv,ape,tta,"
    "mpc,mpc8,amr,avi,asf,flv,live_flv,mpegts,mpeg,nut,rm";

std::vector<std::string> mediaInputArgs(const std::string& path) {
  return {"-protocol_whitelist", "file", "-format_whitelist", kMediaDemuxers, "-i", "file:" + path};
}

bool refusedByWhitelist(std::string_view stderrText) {
  return stderrText.find("not on whitelist") != std::string_view::npos;
}

}  // namespace herald::pipeline
