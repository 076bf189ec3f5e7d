// Local media confined to configured folders, on the resolved path.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/local_files.h"

using namespace herald::core;
namespace fs = std::filesystem;

namespace {

class LocalFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() /
            ("herald-roots-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base_);
    fs::create_directories(base_ / "root" / "sub");
    fs::create_directories(base_ / "root2");
    fs::create_directories(base_ / "outside");
    std::ofstream(base_ / "root" / "sub" / "a.mp4") << "x";
    std::ofstream(base_ / "outside" / "secret.ts") << "x";
  }
  void TearDown() override { fs::remove_all(base_); }
  std::string at(const char* rel) const { return (base_ / rel).string(); }
  fs::path base_;
};

}  // namespace

TEST_F(LocalFilesTest, AcceptsFilesInsideARoot) {
  std::string error;
  auto ok = confineToRoots(at("root/sub/a.mp4"), {at("root")}, error);
  ASSERT_TRUE(ok) << error;
  EXPECT_EQ(*ok, fs::canonical(at("root/sub/a.mp4")).string());
  EXPECT_TRUE(confineToRoots(at("root/sub/../sub/a.mp4"), {at("root2"), at("root/")}, error));
  EXPECT_TRUE(confineToRoots(at("outside/secret.ts"), {}, error)) << "no roots: anywhere";
}

TEST_F(LocalFilesTest, RefusesPathsAndLinksLeadingOut) {
  std::string error;
  EXPECT_FALSE(confineToRoots(at("outside/secret.ts"), {at("root")}, error));
  EXPECT_NE(error.find("LocalFileRoots"), std::string::npos) << error;
  EXPECT_FALSE(confineToRoots(at("root/../outside/secret.ts"), {at("root")}, error));
  fs::create_symlink(at("outside/secret.ts"), at("root/link.ts"));
  EXPECT_FALSE(confineToRoots(at("root/link.ts"), {at("root")}, error)) << "symlink out";
  fs::create_directory_symlink(at("outside"), at("root/dirlink"));
  EXPECT_FALSE(confineToRoots(at("root/dirlink/secret.ts"), {at("root")}, error));
  // A sibling whose name starts like the root is not inside it.
  fs::create_directories(at("rootx"));
  std::ofstream(base_ / "rootx" / "b.mp4") << "x";
  EXPECT_FALSE(confineToRoots(at("rootx/b.mp4"), {at("root")}, error));
  EXPECT_FALSE(confineToRoots(at("root/missing.mp4"), {at("root")}, error));
  EXPECT_NE(error.find("not found"), std::string::npos) << error;
  EXPECT_FALSE(confineToRoots(at("root/sub"), {at("root")}, error)) << "a folder";
}

TEST_F(LocalFilesTest, LexicalCheckForIngest) {
  EXPECT_TRUE(lexicallyWithinRoots("/srv/media/a.mp4", {"/srv/media"}));
  EXPECT_TRUE(lexicallyWithinRoots("/srv/media/x/../a.mp4", {"/srv/media/"}));
  EXPECT_FALSE(lexicallyWithinRoots("/srv/media/../etc/passwd", {"/srv/media"}));
  EXPECT_FALSE(lexicallyWithinRoots("/srv/media2/a.mp4", {"/srv/media"}));
  EXPECT_TRUE(lexicallyWithinRoots("/anything", {}));
}
