#include <gtest/gtest.h>

#include "core/media_url.h"

using namespace herald::core;

namespace {

const MediaUrlPolicy kDevelopment{true, false};
const MediaUrlPolicy kNoLocalFiles{false, false};
const MediaUrlPolicy kProduction{false, true};

}  // namespace

TEST(MediaUrl, ClassifiesSources) {
  std::string error;
  EXPECT_EQ(classifyMediaUrl("https://www.youtube.com/watch?v=abc", kNoLocalFiles, error)->source,
            MediaSource::YouTube);
  EXPECT_EQ(classifyMediaUrl("https://youtu.be/abc", kNoLocalFiles, error)->source,
            MediaSource::YouTube);
  EXPECT_EQ(classifyMediaUrl("http://127.0.0.1:8080/a.mp4", kNoLocalFiles, error)->source,
            MediaSource::Http);
  auto f = classifyMediaUrl("file:///tmp/a%20b.mp4", kDevelopment, error);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->source, MediaSource::LocalFile);
  EXPECT_EQ(f->path, "/tmp/a b.mp4");
  EXPECT_EQ(classifyMediaUrl("/srv/video.mkv", kDevelopment, error)->path, "/srv/video.mkv");
}

TEST(MediaUrl, RefusesWhatItCannotFetch) {
  std::string error;
  for (auto bad : {"", "not a url", "ftp://host/a.mp4", "http://", "javascript:alert(1)",
                   "file://otherhost/etc/passwd", "relative/path.mp4", "http://a/\x01"}) {
    error.clear();
    EXPECT_FALSE(classifyMediaUrl(bad, kDevelopment, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  MediaUrlRefusal refusal{};
  EXPECT_FALSE(classifyMediaUrl("file:///tmp/a.mp4", kNoLocalFiles, error, &refusal));
  EXPECT_NE(error.find("AllowLocalFiles"), std::string::npos);
  EXPECT_EQ(refusal, MediaUrlRefusal::LocalFilesOff);
  EXPECT_FALSE(classifyMediaUrl("/tmp/a.mp4", kNoLocalFiles, error));
}

TEST(MediaUrl, NeverPassesAnOptionOn) {
  std::string error;
  for (auto bad : {"-o/x", "-o", "--exec=touch /tmp/pwned", "-i", "-"}) {
    for (const auto& policy : {kDevelopment, kProduction}) {
      error.clear();
      EXPECT_FALSE(classifyMediaUrl(bad, policy, error)) << bad;
      EXPECT_NE(error.find("'-'"), std::string::npos) << bad << ": " << error;
    }
  }
}

TEST(MediaUrl, ProductionRefusesPrivateHostsBeforeAnyLookup) {
  std::string error;
  for (auto bad :
       {"http://127.0.0.1:8080/a.mp4", "http://localhost:1/a.mp4", "https://LOCALHOST./a.mp4",
        "http://[::1]:8080/a.mp4", "http://10.1.2.3/a", "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/a", "http://[fd00::1]/a", "http://172.16.0.1/a", "http://192.168.1.1/a",
        "http://2130706433/a", "http://0x7f000001/a", "http://[::ffff:127.0.0.1]/a",
        "http://0.0.0.0:8080/a", "http://100.64.0.1/a"}) {
    MediaUrlRefusal refusal{};
    error.clear();
    EXPECT_FALSE(classifyMediaUrl(bad, kProduction, error, &refusal)) << bad;
    EXPECT_EQ(refusal, MediaUrlRefusal::PrivateHost) << bad;
    EXPECT_NE(error.find("AllowPrivateNetworkDownloads"), std::string::npos) << error;
    EXPECT_TRUE(classifyMediaUrl(bad, kDevelopment, error)) << bad << " in development";
  }
  // Names are checked on the address connected to (downloader), not here.
  EXPECT_TRUE(classifyMediaUrl("http://media.example.com/a.mp4", kProduction, error));
  EXPECT_TRUE(classifyMediaUrl("http://8.8.8.8/a.mp4", kProduction, error));
  EXPECT_TRUE(classifyMediaUrl("http://[2606:4700::1]/a.mp4", kProduction, error));
}
