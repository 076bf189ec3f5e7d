#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "pipeline/audio_extractor.h"
#include "pipeline/wav_reader.h"
#include "test_support.h"

using namespace herald::pipeline;
using namespace std::chrono_literals;
namespace t = herald::pipeline::test;

class AudioExtractor : public ::testing::Test {
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

TEST_F(AudioExtractor, ProducesSixteenKilohertzMonoWithProgress) {
  const auto out = dir_->file("out.wav");
  std::vector<double> progress;
  extractAudio(
      video_, out, 3.0, [&](double f) { progress.push_back(f); }, nullptr);

  ASSERT_FALSE(progress.empty());
  for (std::size_t i = 1; i < progress.size(); ++i) EXPECT_GT(progress[i], progress[i - 1]);
  EXPECT_GT(progress.front(), 0.0);
  EXPECT_DOUBLE_EQ(progress.back(), 1.0);

  WavReader wav(out);
  EXPECT_EQ(wav.sampleRate(), 16000);
  EXPECT_EQ(wav.channels(), 1);
  EXPECT_NEAR(static_cast<double>(wav.totalSamples()) / 16000, 3.0, 0.2);
}

TEST_F(AudioExtractor, ProgressFollowsFfmpegsOutputTime) {
  // Claiming twice the real duration puts ffmpeg's last out_time_us at about one half, so
  // a value near 0.5 proves the progress lines are parsed (not just the final 1.0).
  const auto out = dir_->file("half.wav");
  std::vector<double> progress;
  extractAudio(
      video_, out, 6.0, [&](double f) { progress.push_back(f); }, nullptr);
  ASSERT_GE(progress.size(), 2u);
  EXPECT_NEAR(progress[progress.size() - 2], 0.5, 0.05);
  EXPECT_DOUBLE_EQ(progress.back(), 1.0);
}

TEST_F(AudioExtractor, UnknownDurationStillEndsAtOne) {
  const auto out = dir_->file("unknown.wav");
  std::vector<double> progress;
  extractAudio(
      video_, out, 0, [&](double f) { progress.push_back(f); }, nullptr);
  EXPECT_EQ(progress, std::vector<double>{1.0});
  EXPECT_TRUE(std::filesystem::exists(out));
}

TEST_F(AudioExtractor, CorruptInputGivesFfmpegsReason) {
  const auto junk = dir_->file("junk.mkv");
  t::writeFile(junk, t::randomBytes(32 * 1024, 7));
  const auto out = dir_->file("junk.wav");
  try {
    extractAudio(junk, out, 3.0, nullptr, nullptr);
    FAIL() << "expected MediaError";
  } catch (const MediaError& e) {
    EXPECT_NE(std::string(e.what()).find("Invalid data"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_THROW(extractAudio(dir_->file("absent.mp4"), out, 1, nullptr, nullptr), MediaError);
  EXPECT_THROW(extractAudio(video_, out, 1, nullptr, nullptr, "/nonexistent/ffmpeg"), MediaError);
}

TEST_F(AudioExtractor, VideoWithoutAudioIsNamedAsSuch) {
  const auto silent = t::makeSilentVideo(*dir_);
  const auto out = dir_->file("silent.wav");
  try {
    extractAudio(silent, out, 1.0, nullptr, nullptr);
    FAIL() << "expected MediaError";
  } catch (const MediaError& e) {
    EXPECT_EQ(std::string(e.what()), "no audio stream in " + silent);
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(AudioExtractor, CancelStopsABlockedFfmpeg) {
  // ffmpeg blocks opening a FIFO that nobody writes to: a stand-in for a long extraction.
  const auto fifo = dir_->file("stuck.fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto out = dir_->file("stuck.wav");
  std::atomic<bool> cancel{false};
  std::chrono::steady_clock::time_point cancelledAt;
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancelledAt = std::chrono::steady_clock::now();
    cancel = true;
  });
  EXPECT_THROW(extractAudio(fifo, out, 60, nullptr, &cancel), Cancelled);
  canceller.join();
  EXPECT_LT(std::chrono::steady_clock::now() - cancelledAt, 1500ms);
  EXPECT_FALSE(std::filesystem::exists(out));

  std::atomic<bool> already{true};
  EXPECT_THROW(extractAudio(video_, out, 3, nullptr, &already), Cancelled);
}
