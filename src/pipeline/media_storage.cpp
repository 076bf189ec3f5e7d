#include "pipeline/media_storage.h"

#include <algorithm>
#include <system_error>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace herald::pipeline {

namespace fs = std::filesystem;

namespace {

// Bytes of regular files under `dir`, and when the newest of them was written.
std::pair<std::uint64_t, fs::file_time_type> folderUsage(const fs::path& dir) {
  std::uint64_t bytes = 0;
  auto newest = fs::file_time_type::min();
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code fileEc;
    if (!it->is_regular_file(fileEc)) continue;
    const auto size = it->file_size(fileEc);
    if (!fileEc) bytes += size;
    const auto written = it->last_write_time(fileEc);
    if (!fileEc) newest = std::max(newest, written);
  }
  return {bytes, newest};
}

}  // namespace

std::uint64_t mediaBytes(const fs::path& root) { return folderUsage(root).first; }

bool removeVideoMedia(const fs::path& root, const std::string& videoId) {
  if (videoId.empty() || videoId == "." || videoId == ".." ||
      videoId.find('/') != std::string::npos) {
    return false;  // never anything but one folder directly under root
  }
  std::error_code ec;
  fs::remove_all(root / videoId, ec);
  if (ec) spdlog::warn("media of video {}: cannot delete: {}", videoId, ec.message());
  return !ec;
}

std::uint64_t makeRoom(const fs::path& root, std::uint64_t maxBytes, std::uint64_t wanted,
                       const std::string& keepVideoId,
                       const std::function<bool(const std::string&)>& finished) {
  struct Folder {
    std::string videoId;
    std::uint64_t bytes;
    fs::file_time_type written;
  };
  std::vector<Folder> folders;
  std::uint64_t used = 0;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dirEc;
    if (!it->is_directory(dirEc)) continue;
    auto [bytes, written] = folderUsage(it->path());
    used += bytes;
    folders.push_back({it->path().filename().string(), bytes, written});
  }
  std::sort(folders.begin(), folders.end(),
            [](const Folder& a, const Folder& b) { return a.written < b.written; });
  for (const auto& f : folders) {
    if (used + wanted <= maxBytes) break;
    if (f.videoId == keepVideoId || !finished(f.videoId)) continue;
    if (removeVideoMedia(root, f.videoId)) {
      used -= std::min(used, f.bytes);
      spdlog::info(
          "media of video {}: deleted ({} bytes) to make room under Pipeline:MaxMediaBytes",
          f.videoId, f.bytes);
    }
  }
  return used >= maxBytes ? 0 : maxBytes - used;
}

}  // namespace herald::pipeline
