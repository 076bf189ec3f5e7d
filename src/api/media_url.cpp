#include "api/media_url.h"

#include <boost/url/parse.hpp>

#include "core/strings.h"

namespace herald::api {

namespace {

bool isYouTubeHost(const std::string& host) {
  auto h = core::toLower(host);
  for (const char* suffix : {"youtube.com", "youtu.be", "youtube-nocookie.com"}) {
    std::string s = suffix;
    if (h == s || (h.size() > s.size() && h.ends_with("." + s))) return true;
  }
  return false;
}

}  // namespace

std::optional<MediaUrl> classifyMediaUrl(const std::string& url, bool allowLocalFiles,
                                         std::string& error) {
  if (url.empty()) {
    error = "url is required";
    return std::nullopt;
  }
  if (url.size() > 4096) {
    error = "url is longer than 4096 characters";
    return std::nullopt;
  }
  for (unsigned char c : url) {
    if (c < 0x20 || c == 0x7F) {
      error = "url contains control characters";
      return std::nullopt;
    }
  }
  if (url.front() == '/') {
    if (!allowLocalFiles) {
      error = "local files are not allowed on this server (AppSettings:AllowLocalFiles)";
      return std::nullopt;
    }
    return MediaUrl{MediaSource::LocalFile, url, url};
  }
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    error = "url is not a valid absolute URL";
    return std::nullopt;
  }
  auto scheme = core::toLower(parsed->scheme());
  if (scheme == "file") {
    if (!allowLocalFiles) {
      error = "local files are not allowed on this server (AppSettings:AllowLocalFiles)";
      return std::nullopt;
    }
    auto host = std::string(parsed->encoded_host());
    if (!host.empty() && host != "localhost") {
      error = "file URLs must name a local path (file:///path)";
      return std::nullopt;
    }
    auto path = std::string(parsed->path());
    if (path.empty() || path.front() != '/') {
      error = "file URLs must carry an absolute path";
      return std::nullopt;
    }
    return MediaUrl{MediaSource::LocalFile, url, path};
  }
  if (scheme != "http" && scheme != "https") {
    error = "unsupported URL scheme '" + scheme + "' (use http, https or a YouTube URL)";
    return std::nullopt;
  }
  auto host = std::string(parsed->encoded_host());
  if (host.empty()) {
    error = "url has no host";
    return std::nullopt;
  }
  if (isYouTubeHost(host)) return MediaUrl{MediaSource::YouTube, url, {}};
  return MediaUrl{MediaSource::Http, url, {}};
}

}  // namespace herald::api
