#pragma once
// Classifies the URL of an ingest request (spec section 4): a YouTube page (yt-dlp), an
// http(s) media URL (download), or a local file (file:// or an absolute path, only where
// configuration allows). Pure: no I/O, so every rule is unit-tested. The ingest route and
// the VideoProcessing job both apply it, so a job whose stored metadata changed after
// ingest is held to the same rules as an ingest request.
#include <optional>
#include <string>

namespace herald::core {

enum class MediaSource { YouTube, Http, LocalFile };

struct MediaUrl {
  MediaSource source = MediaSource::Http;
  std::string url;   // as given (http, YouTube)
  std::string path;  // LocalFile: the decoded absolute path
};

struct MediaUrlPolicy {
  // AppSettings:AllowLocalFiles.
  bool allowLocalFiles = true;
  // Outside development (AppSettings:IsProduction without AllowPrivateNetworkDownloads):
  // refuse hosts that are non-public literal addresses or localhost names. Host names
  // are checked again, on the address connected to, by the downloader.
  bool refusePrivateHosts = false;
};

enum class MediaUrlRefusal { Invalid, LocalFilesOff, PrivateHost };

// Returns the classified URL, or nullopt with `error` explaining why it is refused (and
// `refusal`, when given, saying which rule refused it).
std::optional<MediaUrl> classifyMediaUrl(const std::string& url, const MediaUrlPolicy& policy,
                                         std::string& error, MediaUrlRefusal* refusal = nullptr);

// Whether `host` is one of YouTube's own host names (the only ones handed to yt-dlp).
bool isYouTubeHost(const std::string& host);

}  // namespace herald::core
