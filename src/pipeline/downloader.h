#pragma once
// Downloads an http(s) media URL to a file, following redirects, with progress, a size
// cap, a timeout and cancellation. Runs its own io_context on the calling (worker)
// thread, so a stalled server can never hold a worker past the timeout.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <stdexcept>
#include <string>

namespace herald::pipeline {

// The request could not be completed but might work later (host unreachable, 5xx).
class DownloadUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DownloadOptions {
  std::size_t maxBytes = 2ULL * 1024 * 1024 * 1024;
  std::chrono::seconds timeout{600};
  int maxRedirects = 5;
  // fraction 0..1 when the size is known, negative when not; bytes so far.
  std::function<void(double fraction, std::size_t bytes)> onProgress;
  const std::atomic<bool>* cancel = nullptr;
};

// Throws MediaError for a permanent failure (404, bad URL, too large), DownloadUnavailable
// for a transient one, Cancelled when cancelled. Removes a partial file on failure.
void downloadToFile(const std::string& url, const std::string& path,
                    const DownloadOptions& options);

}  // namespace herald::pipeline
