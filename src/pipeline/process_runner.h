#pragma once
// Runs external tools (ffmpeg, ffprobe) without a shell, so file names are never
// interpreted, and with the child in its own process group, so cancelling a job can stop
// the tool together with anything it started. The caller's thread does the waiting; there
// is no background machinery to leak.
//
// Lifetime guarantee: when runProcess returns (or throws), the child has been reaped and
// its process group has been sent SIGKILL, so nothing started by it survives the call
// unless it deliberately left the group (setsid/setpgid). That holds for normal exit too:
// stragglers a tool leaves behind are killed rather than orphaned.
//
// Thread safety: runProcess may be called from many threads at once. Pipes are created
// close-on-exec, so concurrent spawns never inherit each other's descriptors. It uses
// waitpid on its own child only; a process that sets SIGCHLD to SIG_IGN (auto-reaping)
// gets exitCode -1 and an explanatory error.
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::pipeline {

struct ProcessOptions {
  // Called on the calling thread for each stdout line (without the '\n' or a trailing
  // '\r') as it arrives; a final unterminated line is delivered at EOF. Unset: stdout is
  // drained and discarded. If it throws, the child is stopped as for a cancel, reaped,
  // and the exception is rethrown from runProcess.
  std::function<void(std::string_view line)> onStdoutLine;
  // Polled about every 50 ms. Once true the process group gets SIGTERM, then SIGKILL
  // 500 ms later if the child has not exited.
  const std::atomic<bool>* cancel = nullptr;
  // Wall-clock limit, handled like a cancel; 0 means none.
  std::chrono::milliseconds timeout{0};
};

struct ProcessResult {
  // The child's exit status; 128 + signal number if it was killed by a signal (the shell
  // convention); -1 if it never ran or its status was lost (see `error`).
  int exitCode = -1;
  bool cancelled = false;
  bool timedOut = false;
  // The last ~4 KB of stderr, starting at a line boundary when it had to be cut.
  std::string stderrTail;
  // Non-empty when the child could not be started (e.g. binary not found) or waited for.
  std::string error;
  // The errno that kept it from starting (0 otherwise): EMFILE and the like are a
  // passing shortage (jobs::isResourceShortage), ENOENT is not.
  int errorNumber = 0;

  bool succeeded() const { return error.empty() && !cancelled && !timedOut && exitCode == 0; }
};

// argv[0] is looked up in PATH when it has no '/'. stdin is /dev/null. Signal dispositions
// and the signal mask are reset to defaults in the child (servers often ignore SIGPIPE).
// Never throws except for exceptions from onStdoutLine and std::bad_alloc.
ProcessResult runProcess(const std::vector<std::string>& argv, const ProcessOptions& opts = {});

}  // namespace herald::pipeline
