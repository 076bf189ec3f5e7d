// Helpers run tools through runProcess itself: it is tested separately, and using it here
// keeps the tests free of shells and system().
#include "test_support.h"

#include <signal.h>
#include <stdlib.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "pipeline/process_runner.h"

namespace herald::pipeline::test {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/herald-pipeline-XXXXXX";
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string librivoxWav(const std::string& fileId) { return kLibrivoxDir + "/" + fileId + ".wav"; }

std::string librivoxReference(const std::string& fileId) {
  std::ifstream in(kLibrivoxDir + "/transcription");
  std::string line;
  const std::string suffix = " (" + fileId + ")";
  while (std::getline(in, line)) {
    if (line.size() < suffix.size() ||
        line.compare(line.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::istringstream words(line.substr(0, line.size() - suffix.size()));
    std::string word;
    std::string text;
    while (words >> word) {
      if (word == "<s>" || word == "</s>") continue;
      if (!text.empty()) text += ' ';
      text += word;
    }
    return text;
  }
  return {};
}

bool librivoxAvailable() {
  return std::filesystem::exists(librivoxWav("sense_and_sensibility_01_austen_64kb-0870"));
}

void runFfmpeg(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ffmpeg", "-nostdin", "-v", "error", "-y"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = runProcess(argv);
  if (!r.succeeded()) throw std::runtime_error("ffmpeg failed: " + r.error + r.stderrTail);
}

std::string videoEncoder() {
  static const std::string encoder = [] {
    bool x264 = false;
    ProcessOptions opts;
    opts.onStdoutLine = [&x264](std::string_view line) {
      if (line.find(" libx264 ") != std::string_view::npos) x264 = true;
    };
    runProcess({"ffmpeg", "-hide_banner", "-encoders"}, opts);
    return std::string(x264 ? "libx264" : "mpeg4");
  }();
  return encoder;
}

std::string makeTestVideo(const TempDir& dir, const std::string& name) {
  const auto out = dir.file(name);
  runFfmpeg({"-f", "lavfi", "-i", "testsrc=duration=3:size=160x120:rate=10", "-i",
             librivoxWav("sense_and_sensibility_01_austen_64kb-0870"), "-shortest", "-c:v",
             videoEncoder(), "-pix_fmt", "yuv420p", "-c:a", "aac", "-metadata",
             "title=Herald Test Clip", out});
  return out;
}

std::string makeSilentVideo(const TempDir& dir, const std::string& name) {
  const auto out = dir.file(name);
  runFfmpeg({"-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=10", "-c:v", videoEncoder(),
             "-pix_fmt", "yuv420p", out});
  return out;
}

void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(gen() & 0xFF);
  return out;
}

bool processGone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

namespace {
bool notRunningNow(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  if (!std::getline(stat, content)) return true;
  // "pid (comm) S ...": the state follows the last ')', as comm may contain spaces.
  auto paren = content.rfind(')');
  return paren != std::string::npos && paren + 2 < content.size() && content[paren + 2] == 'Z';
}
}  // namespace

bool processStopsRunning(pid_t pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!notRunningNow(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace herald::pipeline::test
