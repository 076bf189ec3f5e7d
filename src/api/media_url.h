#pragma once
// Classifies the URL of an ingest request (spec section 4): a YouTube page (yt-dlp), an
// http(s) media URL (download), or a local file (file:// or an absolute path, only where
// configuration allows). Pure: no I/O, so every rule is unit-tested.
#include <optional>
#include <string>

namespace herald::api {

enum class MediaSource { YouTube, Http, LocalFile };

struct MediaUrl {
  MediaSource source = MediaSource::Http;
  std::string url;   // as given (http, YouTube)
  std::string path;  // LocalFile: the decoded absolute path
};

// Returns the classified URL, or nullopt with `error` explaining why it is refused.
std::optional<MediaUrl> classifyMediaUrl(const std::string& url, bool allowLocalFiles,
                                         std::string& error);

}  // namespace herald::api
