#include "core/local_files.h"

#include <filesystem>
#include <system_error>

namespace herald::core {

namespace fs = std::filesystem;

namespace {

// Whether `inner` is `root` or below it; both already resolved (no "..", no links), so a
// component-wise prefix test is exact ("/srv/media2" is not inside "/srv/media").
bool isWithin(const fs::path& inner, const fs::path& root) {
  auto i = inner.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++i) {
    if (r->empty()) continue;  // a trailing separator
    if (i == inner.end() || *i != *r) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string> confineToRoots(const std::string& path,
                                          const std::vector<std::string>& roots,
                                          std::string& error) {
  std::error_code ec;
  auto resolved = fs::canonical(path, ec);
  if (ec) {
    error = "media file not found: " + path;
    return std::nullopt;
  }
  if (!fs::is_regular_file(resolved, ec)) {
    error = "not a regular file: " + path;
    return std::nullopt;
  }
  if (roots.empty()) return resolved.string();
  for (const auto& root : roots) {
    auto r = fs::canonical(root, ec);
    if (!ec && isWithin(resolved, r)) return resolved.string();
  }
  error = "local file " + path +
          " is outside the folders this server may read (AppSettings:LocalFileRoots)";
  return std::nullopt;
}

bool lexicallyWithinRoots(const std::string& path, const std::vector<std::string>& roots) {
  if (roots.empty()) return true;
  auto normal = fs::path(path).lexically_normal();
  for (const auto& root : roots) {
    if (isWithin(normal, fs::path(root).lexically_normal())) return true;
  }
  return false;
}

}  // namespace herald::core
