#include "core/media_url.h"

#include <boost/url/parse.hpp>

#include "core/address_policy.h"
#include "core/strings.h"

namespace herald::core {

bool isYouTubeHost(const std::string& host) {
  auto h = toLower(host);
  for (const char* suffix : {"youtube.com", "youtu.be", "youtube-nocookie.com"}) {
    std::string s = suffix;
    if (h == s || (h.size() > s.size() && h.ends_with("." + s))) return true;
  }
  return false;
}

std::optional<MediaUrl> classifyMediaUrl(const std::string& url, const MediaUrlPolicy& policy,
                                         std::string& error, MediaUrlRefusal* refusal) {
  auto refuse = [&](std::string why, MediaUrlRefusal kind = MediaUrlRefusal::Invalid) {
    error = std::move(why);
    if (refusal) *refusal = kind;
    return std::nullopt;
  };
  if (url.empty()) return refuse("url is required");
  if (url.size() > 4096) return refuse("url is longer than 4096 characters");
  for (unsigned char c : url) {
    if (c < 0x20 || c == 0x7F) return refuse("url contains control characters");
  }
  // Never a URL, and yt-dlp or ffmpeg would read it as an option ("-o/x"): refused by
  // name, although nothing below would accept it either.
  if (url.front() == '-') return refuse("url must not start with '-'");
  const char* localOff = "local files are not allowed on this server (AppSettings:AllowLocalFiles)";
  if (url.front() == '/') {
    if (!policy.allowLocalFiles) return refuse(localOff, MediaUrlRefusal::LocalFilesOff);
    return MediaUrl{MediaSource::LocalFile, url, url};
  }
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return refuse("url is not a valid absolute URL");
  auto scheme = toLower(parsed->scheme());
  if (scheme == "file") {
    if (!policy.allowLocalFiles) return refuse(localOff, MediaUrlRefusal::LocalFilesOff);
    auto host = std::string(parsed->encoded_host());
    if (!host.empty() && host != "localhost") {
      return refuse("file URLs must name a local path (file:///path)");
    }
    auto path = std::string(parsed->path());
    if (path.empty() || path.front() != '/') return refuse("file URLs must carry an absolute path");
    return MediaUrl{MediaSource::LocalFile, url, path};
  }
  if (scheme != "http" && scheme != "https") {
    return refuse("unsupported URL scheme '" + scheme + "' (use http, https or a YouTube URL)");
  }
  auto host = std::string(parsed->encoded_host());
  if (host.empty()) return refuse("url has no host");
  if (policy.refusePrivateHosts) {
    if (auto why = refusedHost(host)) {
      return refuse("downloads from private networks are not allowed on this server (" + *why +
                        "; AppSettings:AllowPrivateNetworkDownloads)",
                    MediaUrlRefusal::PrivateHost);
    }
  }
  if (isYouTubeHost(host)) return MediaUrl{MediaSource::YouTube, url, {}};
  return MediaUrl{MediaSource::Http, url, {}};
}

}  // namespace herald::core
