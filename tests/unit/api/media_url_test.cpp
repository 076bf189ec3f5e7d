#include <gtest/gtest.h>

#include "api/media_url.h"

using namespace herald::api;

TEST(MediaUrl, ClassifiesSources) {
  std::string error;
  EXPECT_EQ(classifyMediaUrl("https://www.youtube.com/watch?v=abc", false, error)->source,
            MediaSource::YouTube);
  EXPECT_EQ(classifyMediaUrl("https://youtu.be/abc", false, error)->source, MediaSource::YouTube);
  EXPECT_EQ(classifyMediaUrl("http://127.0.0.1:8080/a.mp4", false, error)->source,
            MediaSource::Http);
  auto f = classifyMediaUrl("file:///tmp/a%20b.mp4", true, error);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->source, MediaSource::LocalFile);
  EXPECT_EQ(f->path, "/tmp/a b.mp4");
  EXPECT_EQ(classifyMediaUrl("/srv/video.mkv", true, error)->path, "/srv/video.mkv");
}

TEST(MediaUrl, RefusesWhatItCannotFetch) {
  std::string error;
  for (auto bad : {"", "not a url", "ftp://host/a.mp4", "http://", "javascript:alert(1)",
                   "file://otherhost/etc/passwd", "relative/path.mp4", "http://a/\x01"}) {
    error.clear();
    EXPECT_FALSE(classifyMediaUrl(bad, true, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  EXPECT_FALSE(classifyMediaUrl("file:///tmp/a.mp4", false, error));
  EXPECT_NE(error.find("AllowLocalFiles"), std::string::npos);
  EXPECT_FALSE(classifyMediaUrl("/tmp/a.mp4", false, error));
}
