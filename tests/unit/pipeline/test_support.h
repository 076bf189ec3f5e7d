#pragma once
// Shared fixtures for the pipeline tests: scratch directories, the pocketsphinx test
// recordings and small media files generated with ffmpeg on the fly, so no binary test
// data lives in the repository.
#include <sys/types.h>

#include <string>
#include <vector>

namespace herald::pipeline::test {

inline const std::string kLibrivoxDir = "/usr/share/pocketsphinx/test/data/librivox";

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string librivoxWav(const std::string& fileId);
// The reference sentence for fileId from librivox/transcription (format
// "<s> words </s> (fileid)"), without the <s> markers; empty if not listed.
std::string librivoxReference(const std::string& fileId);
bool librivoxAvailable();

// Runs ffmpeg with these arguments (after "-nostdin -v error -y"); throws
// std::runtime_error with ffmpeg's stderr when it fails.
void runFfmpeg(const std::vector<std::string>& args);

// libx264 when this ffmpeg build has it, else the built-in mpeg4 encoder.
std::string videoEncoder();

// A 3 s 160x120 test-pattern video with the 0870 librivox clip as AAC audio and the title
// tag "Herald Test Clip".
std::string makeTestVideo(const TempDir& dir, const std::string& name = "clip.mp4");
// The same picture without any audio stream.
std::string makeSilentVideo(const TempDir& dir, const std::string& name = "silent.mp4");

void writeFile(const std::string& path, const std::string& bytes);
// Deterministic pseudo-random bytes (not media by any detector's standard).
std::string randomBytes(std::size_t n, unsigned seed);

// No process with this pid exists (it was reaped).
bool processGone(pid_t pid);
// Gone, or a zombie waiting for someone else (init) to reap it: either way, not running.
// Polls for up to a second, because SIGKILL takes effect asynchronously and a killed
// grandchild may still be exiting when runProcess returns.
bool processStopsRunning(pid_t pid);

}  // namespace herald::pipeline::test
