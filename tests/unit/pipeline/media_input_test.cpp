// ffprobe and ffmpeg read exactly the one local file they are given: a playlist that
// names other files (the AllowLocalFiles bypass) is refused, real media still reads.
#include <gtest/gtest.h>

#include <filesystem>

#include "pipeline/audio_extractor.h"
#include "pipeline/errors.h"
#include "pipeline/media_input.h"
#include "pipeline/media_probe.h"
#include "test_support.h"

namespace herald::pipeline {
namespace {

// An HLS playlist (as a download would store it: no telling extension) naming an MPEG-TS
// file elsewhere on this machine, and a concat script doing the same.
struct Playlists {
  explicit Playlists(const test::TempDir& dir) {
    secret = dir.file("secret.ts");
    test::runFfmpeg({"-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", "-f",
                     "mpegts", secret});
    hls = dir.file("source.media");
    test::writeFile(hls,
                    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                    "#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n" +
                        secret + "\n#EXT-X-ENDLIST\n");
    concat = dir.file("concat.media");
    test::writeFile(concat, "ffconcat version 1.0\nfile '" + secret + "'\n");
  }
  std::string secret, hls, concat;
};

TEST(MediaInput, ArgumentsConfineTheInput) {
  auto args = mediaInputArgs("-x");
  ASSERT_EQ(args.size(), 6u);
  EXPECT_EQ(args[0], "-protocol_whitelist");
  EXPECT_EQ(args[1], "file");
  EXPECT_EQ(args[2], "-format_whitelist");
  EXPECT_EQ(std::string(kMediaDemuxers).find("hls"), std::string::npos);
  EXPECT_EQ(std::string(kMediaDemuxers).find("concat"), std::string::npos);
  EXPECT_EQ(args[5], "file:-x");
}

TEST(MediaInput, ProbeRefusesPlaylistsThatNameOtherFiles) {
  test::TempDir dir;
  Playlists p(dir);
  EXPECT_TRUE(probeMedia(p.secret, "ffprobe").hasAudio) << "the segment itself is media";
  for (const auto& file : {p.hls, p.concat}) {
    try {
      probeMedia(file, "ffprobe");
      FAIL() << file << " was read as media";
    } catch (const MediaError& e) {
      EXPECT_NE(std::string(e.what()).find("not a media file"), std::string::npos) << e.what();
    }
  }
}

TEST(MediaInput, ExtractionRefusesPlaylistsThatNameOtherFiles) {
  test::TempDir dir;
  Playlists p(dir);
  for (const auto& file : {p.hls, p.concat}) {
    EXPECT_THROW(extractAudio(file, dir.file("out.wav"), 2.0, {}, nullptr, "ffmpeg"), MediaError)
        << file;
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.wav")));
  }
  extractAudio(p.secret, dir.file("out.wav"), 2.0, {}, nullptr, "ffmpeg");
  EXPECT_GT(std::filesystem::file_size(dir.file("out.wav")), 16000u) << "real media extracts";
}

}  // namespace
}  // namespace herald::pipeline
