#pragma once
// How ffprobe and ffmpeg are told to read a media file, so that reading it can never
// mean reading anything else. A downloaded "video" may really be an HLS or concat
// playlist, an SDP description or a DASH manifest: ffmpeg would then open the files or
// network addresses it names (the AllowLocalFiles bypass of issue 12). So every input
// gets "-protocol_whitelist file" (no network, no nested protocols like concat: or
// subfile:) and "-format_whitelist" with single-file containers only (no hls, dash,
// concat, image2, sdp, ...), and is named "file:PATH" so that it is never an option or
// a URL. Nothing here forces a format: the container is probed, then must be listed.
#include <string>
#include <string_view>
#include <vector>

namespace herald::pipeline {

// The demuxers media may be read with (ffmpeg -demuxers names; "mov" is mp4/m4a/3gp).
extern const char* const kMediaDemuxers;

// The input arguments for `path`: the whitelists, then "-i file:PATH".
std::vector<std::string> mediaInputArgs(const std::string& path);

// Whether a tool's error output says the input's format is not on the whitelist.
bool refusedByWhitelist(std::string_view stderrText);

}  // namespace herald::pipeline
