// The media quota's eviction (media_storage.h) on real folders: finished videos' media goes,
// oldest first, until there is room; a video still in the pipeline and the one making room
// are never touched.
#include "pipeline/media_storage.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace fs = std::filesystem;
using namespace herald::pipeline;

namespace {

class MediaStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("herald_media_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  // A video folder with one file of `kib` KiB, written `age` seconds ago.
  void video(const std::string& id, int kib, int age) {
    fs::create_directories(root_ / id);
    const auto file = root_ / id / "source.media";
    std::ofstream(file) << std::string(static_cast<std::size_t>(kib) * 1024, 'm');
    fs::last_write_time(file, fs::file_time_type::clock::now() - std::chrono::seconds(age));
  }
  fs::path root_;
};

TEST_F(MediaStorageTest, CountsEveryFileUnderTheRoot) {
  video("a", 10, 0);
  video("b", 20, 0);
  EXPECT_EQ(mediaBytes(root_), 30u * 1024);
  EXPECT_EQ(mediaBytes(root_ / "missing"), 0u);
}

TEST_F(MediaStorageTest, EvictsFinishedVideosOldestFirstUntilThereIsRoom) {
  video("old-done", 100, 300);
  video("running", 100, 400);  // oldest, but still in the pipeline
  video("mid-done", 100, 200);
  video("new-done", 100, 100);
  video("me", 10, 0);
  const std::set<std::string> finished{"old-done", "mid-done", "new-done", "me"};
  // 410 KiB used, 500 KiB allowed, 200 KiB wanted: two finished folders must go.
  auto room = makeRoom(root_, 500 * 1024, 200 * 1024, "me",
                       [&](const std::string& id) { return finished.contains(id); });
  EXPECT_FALSE(fs::exists(root_ / "old-done"));
  EXPECT_FALSE(fs::exists(root_ / "mid-done"));
  EXPECT_TRUE(fs::exists(root_ / "new-done"));
  EXPECT_TRUE(fs::exists(root_ / "running"));
  EXPECT_TRUE(fs::exists(root_ / "me"));
  EXPECT_EQ(room, 500u * 1024 - 210u * 1024);
}

TEST_F(MediaStorageTest, ReportsHowLittleIsLeftWhenNothingMayGo) {
  video("running", 900, 10);
  auto room =
      makeRoom(root_, 1000 * 1024, 200 * 1024, "me", [](const std::string&) { return false; });
  EXPECT_TRUE(fs::exists(root_ / "running"));
  EXPECT_EQ(room, 100u * 1024);
  EXPECT_TRUE(removeVideoMedia(root_, "running"));
  EXPECT_FALSE(fs::exists(root_ / "running"));
  EXPECT_FALSE(removeVideoMedia(root_, ".."));  // never outside one video's folder
  EXPECT_TRUE(fs::exists(root_));
}

}  // namespace
