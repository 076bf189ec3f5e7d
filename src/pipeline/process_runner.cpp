// Design: posix_spawnp rather than fork, because fork in a multi-threaded server may only
// call async-signal-safe functions before exec and glibc's posix_spawn gets that right
// (and reports exec failures such as ENOENT as its return value, so no error pipe is
// needed). The caller's thread supervises the child with a poll() loop that wakes at least
// every 50 ms to look at the cancel flag, the deadline and the child's state.
//
// The child's exit is first observed with waitid(WNOWAIT), leaving it a zombie: while it is
// unreaped its pid cannot be reused, so kill(-pid) is guaranteed to reach our group and no
// one else. Only after the group has been killed do we reap it.
#include "pipeline/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <optional>
#include <system_error>
#include <utility>

extern char** environ;

namespace herald::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kStderrTailBytes = 4096;
// A "line" longer than this is delivered in pieces so binary junk cannot grow memory.
constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;
constexpr milliseconds kPollInterval{50};
// With both pipes closed there is nothing to wake poll(); wait in short steps so the exit
// is noticed promptly.
constexpr milliseconds kIdleInterval{10};
constexpr milliseconds kKillGrace{500};
constexpr int kMaxReadsPerPump = 16;
// After the child exits, pipes still open mean a straggler holds them; give it this long
// before killing the group, and stop waiting for EOF at kDrainLimit (a process that left
// the group cannot be killed by us and must not hang the caller).
constexpr milliseconds kStragglerGrace{200};
constexpr milliseconds kDrainLimit{500};

std::string errnoText(int err) { return std::generic_category().message(err); }

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read;
  Fd write;
};

// Close-on-exec from birth (pipe2), so a concurrent spawn on another thread cannot inherit
// our ends and keep the pipe open after our child exits.
int makePipe(Pipe& p) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return errno;
  p.read = Fd(fds[0]);
  p.write = Fd(fds[1]);
  ::fcntl(p.read.get(), F_SETFL, ::fcntl(p.read.get(), F_GETFL) | O_NONBLOCK);
  return 0;
}

// Owns the posix_spawn attribute objects so every exit path destroys them.
class SpawnSetup {
 public:
  SpawnSetup() {
    ::posix_spawn_file_actions_init(&actions_);
    ::posix_spawnattr_init(&attr_);
  }
  ~SpawnSetup() {
    ::posix_spawn_file_actions_destroy(&actions_);
    ::posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  int configure(int outFd, int errFd) {
    int rc = ::posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&actions_, outFd, STDOUT_FILENO);
    if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&actions_, errFd, STDERR_FILENO);
    if (rc != 0) return rc;
    // Own process group (pgid = child pid) so one kill(-pid) reaches everything it starts.
    // Ignored signals and blocked masks are inherited across exec; reset both so that, say,
    // a server ignoring SIGPIPE does not make ffmpeg ignore it too.
    sigset_t mask;
    sigset_t defaults;
    sigemptyset(&mask);
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    rc = ::posix_spawnattr_setflags(
        &attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) rc = ::posix_spawnattr_setpgroup(&attr_, 0);
    if (rc == 0) rc = ::posix_spawnattr_setsigmask(&attr_, &mask);
    if (rc == 0) rc = ::posix_spawnattr_setsigdefault(&attr_, &defaults);
    return rc;
  }

  int spawn(const std::vector<std::string>& argv, pid_t& pid) {
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    return ::posix_spawnp(&pid, args[0], &actions_, &attr_, args.data(), environ);
  }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

// Supervises one running child from spawn to reap.
class Supervisor {
 public:
  Supervisor(pid_t pid, Fd out, Fd err, const ProcessOptions& opts)
      : pid_(pid), out_(std::move(out)), err_(std::move(err)), opts_(opts) {}

  ProcessResult run() {
    const auto start = Clock::now();
    std::optional<Clock::time_point> termSentAt;
    std::optional<Clock::time_point> exitedAt;
    bool killSent = false;
    bool groupKilled = false;
    while (true) {
      const auto now = Clock::now();
      if (!exitedAt) {
        if (!termSentAt) {
          if (callbackError_ || (opts_.cancel && opts_.cancel->load())) {
            result_.cancelled = true;
            termSentAt = now;
          } else if (opts_.timeout.count() > 0 && now - start >= opts_.timeout) {
            result_.timedOut = true;
            termSentAt = now;
          }
          if (termSentAt) ::kill(-pid_, SIGTERM);
        } else if (!killSent && now - *termSentAt >= kKillGrace) {
          ::kill(-pid_, SIGKILL);
          killSent = true;
        }
        if (leaderExited()) exitedAt = now;
      }
      if (exitedAt) {
        if (!out_.valid() && !err_.valid()) break;
        const auto since = now - *exitedAt;
        if (!groupKilled && since >= kStragglerGrace) {
          ::kill(-pid_, SIGKILL);
          groupKilled = true;
        }
        if (since >= kDrainLimit) break;
      }
      pump();
    }
    // The leader is still an unreaped zombie here, so -pid_ can only name our group.
    ::kill(-pid_, SIGKILL);
    reap();
    flushStdoutLine();
    finishStderrTail();
    if (callbackError_) std::rethrow_exception(callbackError_);
    return std::move(result_);
  }

 private:
  // True once the child has exited; does not reap it (WNOWAIT).
  bool leaderExited() {
    siginfo_t info{};
    while (true) {
      int rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
      if (rc == 0) return info.si_pid != 0;
      if (errno != EINTR) return true;  // ECHILD: status lost; reap() reports it
    }
  }

  void reap() {
    int status = 0;
    pid_t rc;
    do {
      rc = ::waitpid(pid_, &status, 0);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
      result_.exitCode = -1;
      result_.error =
          "lost the child's exit status (" + errnoText(errno) + "); is SIGCHLD set to SIG_IGN?";
    } else if (WIFEXITED(status)) {
      result_.exitCode = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      result_.exitCode = 128 + WTERMSIG(status);
    }
  }

  // Waits up to one poll interval for output and consumes whatever arrived.
  void pump() {
    pollfd fds[2];
    nfds_t n = 0;
    if (out_.valid()) fds[n++] = {out_.get(), POLLIN, 0};
    if (err_.valid()) fds[n++] = {err_.get(), POLLIN, 0};
    const auto wait = n == 0 ? kIdleInterval : kPollInterval;
    int rc = ::poll(n == 0 ? nullptr : fds, n, static_cast<int>(wait.count()));
    if (rc <= 0) return;  // timeout or EINTR: the caller's loop re-checks everything
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == out_.get()) {
        drain(out_, true);
      } else {
        drain(err_, false);
      }
    }
  }

  // Reads what is available, but at most kMaxReadsPerPump buffers: a child writing as fast
  // as we read (think `yes`) must not keep us from checking the cancel flag.
  void drain(Fd& fd, bool isStdout) {
    char buf[65536];
    for (int reads = 0; reads < kMaxReadsPerPump; ++reads) {
      ssize_t got = ::read(fd.get(), buf, sizeof buf);
      if (got > 0) {
        if (isStdout) {
          onStdout(buf, static_cast<std::size_t>(got));
        } else {
          onStderr(buf, static_cast<std::size_t>(got));
        }
        continue;
      }
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      fd.reset();  // EOF or a read error: either way this stream is finished
      return;
    }
  }

  void onStdout(const char* data, std::size_t size) {
    if (!opts_.onStdoutLine || callbackError_) return;
    line_.append(data, size);
    std::size_t begin = 0;
    while (true) {
      auto nl = line_.find('\n', begin);
      if (nl == std::string::npos) break;
      deliver(std::string_view(line_).substr(begin, nl - begin));
      begin = nl + 1;
    }
    line_.erase(0, begin);
    if (line_.size() > kMaxLineBytes) {
      deliver(line_);
      line_.clear();
    }
  }

  void flushStdoutLine() {
    if (!line_.empty() && !callbackError_) deliver(line_);
    line_.clear();
  }

  void deliver(std::string_view line) {
    if (callbackError_) return;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    try {
      opts_.onStdoutLine(line);
    } catch (...) {
      // Remember it and stop the child; run() rethrows once the child is gone.
      callbackError_ = std::current_exception();
    }
  }

  void onStderr(const char* data, std::size_t size) {
    result_.stderrTail.append(data, size);
    if (result_.stderrTail.size() > 2 * kStderrTailBytes) {
      result_.stderrTail.erase(0, result_.stderrTail.size() - kStderrTailBytes);
      stderrCut_ = true;
    }
  }

  void finishStderrTail() {
    auto& tail = result_.stderrTail;
    if (tail.size() > kStderrTailBytes) {
      tail.erase(0, tail.size() - kStderrTailBytes);
      stderrCut_ = true;
    }
    if (stderrCut_) {
      auto nl = tail.find('\n');
      if (nl != std::string::npos && nl + 1 < tail.size()) tail.erase(0, nl + 1);
    }
  }

  pid_t pid_;
  Fd out_;
  Fd err_;
  const ProcessOptions& opts_;
  ProcessResult result_;
  std::string line_;
  bool stderrCut_ = false;
  std::exception_ptr callbackError_;
};

}  // namespace

ProcessResult runProcess(const std::vector<std::string>& argv, const ProcessOptions& opts) {
  ProcessResult result;
  if (argv.empty() || argv[0].empty()) {
    result.error = "no program given";
    return result;
  }
  if (opts.cancel && opts.cancel->load()) {
    result.cancelled = true;
    return result;
  }
  Pipe out;
  Pipe err;
  int rc = makePipe(out);
  if (rc == 0) rc = makePipe(err);
  if (rc != 0) {
    result.error = "cannot create pipes for '" + argv[0] + "': " + errnoText(rc);
    result.errorNumber = rc;
    return result;
  }
  pid_t pid = -1;
  {
    SpawnSetup setup;
    rc = setup.configure(out.write.get(), err.write.get());
    if (rc == 0) rc = setup.spawn(argv, pid);
  }
  // Our copies of the write ends must go, or EOF would never arrive.
  out.write.reset();
  err.write.reset();
  if (rc != 0) {
    result.error = "cannot start '" + argv[0] + "': " + errnoText(rc);
    result.errorNumber = rc;
    return result;
  }
  return Supervisor(pid, std::move(out.read), std::move(err.read), opts).run();
}

}  // namespace herald::pipeline
