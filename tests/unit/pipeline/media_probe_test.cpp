#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "pipeline/media_probe.h"
#include "test_support.h"

using namespace herald::pipeline;
namespace t = herald::pipeline::test;

namespace {

std::string messageOf(const std::string& path, const std::string& ffprobe = "ffprobe") {
  try {
    probeMedia(path, ffprobe);
  } catch (const MediaError& e) {
    return e.what();
  }
  return "(no MediaError)";
}

}  // namespace

class MediaProbe : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!t::librivoxAvailable()) return;
    dir_ = std::make_unique<t::TempDir>();
    video_ = t::makeTestVideo(*dir_);
  }
  static void TearDownTestSuite() { dir_.reset(); }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "pocketsphinx-testdata is not installed";
  }

  static inline std::unique_ptr<t::TempDir> dir_;
  static inline std::string video_;
};

TEST_F(MediaProbe, ReadsGeneratedVideo) {
  auto info = probeMedia(video_);
  EXPECT_NEAR(info.durationSeconds, 3.0, 0.2);
  EXPECT_TRUE(info.hasAudio);
  EXPECT_TRUE(info.hasVideo);
  EXPECT_EQ(info.title, "Herald Test Clip");
}

TEST_F(MediaProbe, TitleFallsBackToFileStem) {
  auto info = probeMedia(t::librivoxWav("sense_and_sensibility_01_austen_64kb-0870"));
  EXPECT_EQ(info.title, "sense_and_sensibility_01_austen_64kb-0870");
  EXPECT_TRUE(info.hasAudio);
  EXPECT_FALSE(info.hasVideo);
  EXPECT_NEAR(info.durationSeconds, 7.1, 0.05);
}

TEST_F(MediaProbe, NamesThatLookLikeOptionsOrUrlsAreFiles) {
  const auto odd = dir_->file("-i http:odd name.mp4");
  std::filesystem::copy_file(video_, odd);
  auto info = probeMedia(odd);
  EXPECT_TRUE(info.hasVideo);
  EXPECT_NEAR(info.durationSeconds, 3.0, 0.2);
}

TEST_F(MediaProbe, CorruptFileIsNotMedia) {
  const auto junk = dir_->file("junk.mp4");
  t::writeFile(junk, t::randomBytes(64 * 1024, 42));
  auto message = messageOf(junk);
  EXPECT_EQ(message.rfind("not a media file: " + junk, 0), 0u) << message;
  EXPECT_NE(message.find("Invalid data"), std::string::npos) << message;

  const auto text = dir_->file("notes.txt");
  t::writeFile(text, "just some text\n");
  EXPECT_THROW(probeMedia(text), MediaError);
  const auto empty = dir_->file("empty.mp4");
  t::writeFile(empty, "");
  EXPECT_THROW(probeMedia(empty), MediaError);
}

TEST_F(MediaProbe, VideoWithoutAudioIsRejected) {
  const auto silent = t::makeSilentVideo(*dir_);
  EXPECT_EQ(messageOf(silent), "no audio stream in " + silent);
}

TEST_F(MediaProbe, MissingFileAndMissingTool) {
  EXPECT_EQ(messageOf(dir_->file("absent.mp4")), "file not found: " + dir_->file("absent.mp4"));
  auto message = messageOf(video_, "/nonexistent/ffprobe");
  EXPECT_EQ(message.rfind("cannot run ffprobe: ", 0), 0u) << message;
}
