#pragma once
// Downloads an http(s) media URL to a file, following redirects, with progress, a size
// cap, a timeout and cancellation. Runs its own io_context on the calling (worker)
// thread, so a stalled server can never hold a worker past the timeout.
//
// Address policy (docs/security.md "Downloads"): each hop's host is resolved once, every
// address it resolves to is checked (core/address_policy.h), and the connection is made
// to exactly those addresses and checked again once connected, so a DNS answer that
// changes between check and connect (rebinding) cannot slip through; redirects repeat
// the whole check.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
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
  // Refuse hosts that are or resolve to loopback, private, link-local, metadata, ...
  // addresses (production without AppSettings:AllowPrivateNetworkDownloads).
  bool refusePrivateAddresses = false;
  // TEST HOOK (Pipeline:TestResolverHosts): host name -> address replacing DNS, and every
  // connection made to 127.0.0.1 at the URL's port whatever the checked address is, so a
  // test can play a "public" host with a loopback listener and, should the policy ever
  // let a private address through, the connection still stays on this machine.
  std::optional<std::map<std::string, std::string>> simulatedHosts;
};

// The host could not be downloaded from by policy (a private address and the like).
class DownloadRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws MediaError for a permanent failure (404, bad URL, too large), DownloadRefused
// when the address policy refuses a hop (nothing is sent to it), DownloadUnavailable for a
// transient failure (unreachable, 5xx, out of file descriptors), Cancelled when cancelled.
// Removes a partial file on failure.
void downloadToFile(const std::string& url, const std::string& path,
                    const DownloadOptions& options);

}  // namespace herald::pipeline
