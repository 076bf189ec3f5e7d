#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "jobs/processor.h"
#include "pipeline/media_probe.h"
#include "pipeline/process_runner.h"
#include "test_support.h"

using namespace herald::pipeline;
using namespace std::chrono_literals;
using herald::pipeline::test::processGone;
using herald::pipeline::test::processStopsRunning;
using Clock = std::chrono::steady_clock;

namespace {

// Collects stdout lines; the first one is parsed as a pid when asked.
struct Lines {
  std::vector<std::string> lines;
  ProcessOptions options() {
    ProcessOptions o;
    o.onStdoutLine = [this](std::string_view l) { lines.emplace_back(l); };
    return o;
  }
  pid_t pid(std::size_t i = 0) const { return i < lines.size() ? std::stoi(lines[i]) : -1; }
};

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

TEST(ProcessRunner, ReportsExitCodes) {
  auto ok = runProcess({"true"});
  EXPECT_TRUE(ok.succeeded());
  EXPECT_EQ(ok.exitCode, 0);
  auto three = runProcess({"sh", "-c", "exit 3"});
  EXPECT_EQ(three.exitCode, 3);
  EXPECT_FALSE(three.succeeded());
  EXPECT_TRUE(three.error.empty());
  auto killed = runProcess({"sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(killed.exitCode, 128 + SIGTERM);
}

TEST(ProcessRunner, DeliversStdoutLinesWithoutShellInterpretation) {
  Lines out;
  auto r = runProcess({"printf", "one\\ntwo\\r\\nthree"}, out.options());
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(out.lines, (std::vector<std::string>{"one", "two", "three"}));
  // Arguments reach the program verbatim: no globbing, no variable expansion.
  Lines echo;
  runProcess({"echo", "$HOME", "*", "a b"}, echo.options());
  EXPECT_EQ(echo.lines, (std::vector<std::string>{"$HOME * a b"}));
}

TEST(ProcessRunner, HandlesLargeOutputOnBothStreams) {
  std::size_t count = 0;
  std::string last;
  ProcessOptions o;
  o.onStdoutLine = [&](std::string_view l) {
    ++count;
    last = l;
  };
  auto r = runProcess({"sh", "-c", "seq 1 100000; seq 1 100000 >&2"}, o);
  EXPECT_EQ(r.exitCode, 0);
  EXPECT_EQ(count, 100000u);
  EXPECT_EQ(last, "100000");
  EXPECT_LE(r.stderrTail.size(), 4096u);
  EXPECT_GT(r.stderrTail.size(), 3000u);
  EXPECT_EQ(r.stderrTail.substr(r.stderrTail.size() - 7), "100000\n");
  EXPECT_NE(r.stderrTail.front(), '\n');  // cut at a line boundary
}

TEST(ProcessRunner, KeepsShortStderrWhole) {
  auto r = runProcess({"sh", "-c", "echo oops >&2; exit 1"});
  EXPECT_EQ(r.stderrTail, "oops\n");
  EXPECT_EQ(r.exitCode, 1);
}

TEST(ProcessRunner, MissingBinaryIsAClearError) {
  auto r = runProcess({"herald-no-such-binary-xyz", "--help"});
  EXPECT_FALSE(r.succeeded());
  EXPECT_EQ(r.exitCode, -1);
  EXPECT_NE(r.error.find("herald-no-such-binary-xyz"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
  auto empty = runProcess({});
  EXPECT_FALSE(empty.error.empty());
}

TEST(ProcessRunner, CancelStopsSleepQuicklyAndReapsIt) {
  std::atomic<bool> cancel{false};
  Lines out;
  auto o = out.options();
  o.cancel = &cancel;
  Clock::time_point cancelledAt;
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancelledAt = Clock::now();
    cancel = true;
  });
  // exec makes the printed pid the sleep itself.
  auto r = runProcess({"sh", "-c", "echo $$; exec sleep 30"}, o);
  canceller.join();
  EXPECT_LT(secondsSince(cancelledAt), 1.5);
  EXPECT_TRUE(r.cancelled);
  EXPECT_FALSE(r.timedOut);
  ASSERT_EQ(out.lines.size(), 1u);
  EXPECT_TRUE(processGone(out.pid())) << "child " << out.pid() << " survived";
}

TEST(ProcessRunner, CancelEscalatesToSigkillAndReachesGrandchildren) {
  std::atomic<bool> cancel{false};
  Lines out;
  auto o = out.options();
  o.cancel = &cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(300ms);
    cancel = true;
  });
  const auto start = Clock::now();
  // The shell and its background sleep both ignore SIGTERM.
  auto r = runProcess({"sh", "-c", "trap '' TERM; sleep 30 & echo $$; echo $!; wait; wait"}, o);
  canceller.join();
  EXPECT_LT(secondsSince(start), 0.3 + 1.5);
  EXPECT_TRUE(r.cancelled);
  EXPECT_EQ(r.exitCode, 128 + SIGKILL);
  ASSERT_EQ(out.lines.size(), 2u);
  EXPECT_TRUE(processGone(out.pid(0)));
  EXPECT_TRUE(processStopsRunning(out.pid(1))) << "grandchild " << out.pid(1) << " survived";
}

TEST(ProcessRunner, PresetCancelDoesNotSpawn) {
  std::atomic<bool> cancel{true};
  ProcessOptions o;
  o.cancel = &cancel;
  auto r = runProcess({"sleep", "30"}, o);
  EXPECT_TRUE(r.cancelled);
  EXPECT_TRUE(r.error.empty());
}

TEST(ProcessRunner, TimeoutStopsTheChild) {
  ProcessOptions o;
  o.timeout = 300ms;
  const auto start = Clock::now();
  auto r = runProcess({"sleep", "30"}, o);
  EXPECT_LT(secondsSince(start), 1.5);
  EXPECT_TRUE(r.timedOut);
  EXPECT_FALSE(r.cancelled);
  EXPECT_FALSE(r.succeeded());
}

TEST(ProcessRunner, StragglersAreKilledWhenTheChildExits) {
  // The background sleep keeps stdout open; runProcess must not wait 30 s for EOF.
  Lines holding;
  auto start = Clock::now();
  auto r = runProcess({"sh", "-c", "sleep 30 & echo $!"}, holding.options());
  EXPECT_LT(secondsSince(start), 1.5);
  EXPECT_EQ(r.exitCode, 0);
  ASSERT_EQ(holding.lines.size(), 1u);
  EXPECT_TRUE(processStopsRunning(holding.pid()));

  // And one that let go of the pipes is not left behind either.
  Lines detached;
  r = runProcess({"sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"}, detached.options());
  EXPECT_EQ(r.exitCode, 0);
  ASSERT_EQ(detached.lines.size(), 1u);
  EXPECT_TRUE(processStopsRunning(detached.pid()));
}

TEST(ProcessRunner, CallbackExceptionStopsChildAndPropagates) {
  pid_t pid = -1;
  ProcessOptions o;
  o.onStdoutLine = [&pid](std::string_view line) {
    pid = std::stoi(std::string(line));
    throw std::runtime_error("consumer gave up");
  };
  const auto start = Clock::now();
  EXPECT_THROW(runProcess({"sh", "-c", "echo $$; exec sleep 30"}, o), std::runtime_error);
  EXPECT_LT(secondsSince(start), 1.5);
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(processGone(pid));
}

TEST(ProcessRunner, CancelWorksWhileOutputFloods) {
  // `yes` writes as fast as we read; the cancel flag must still be noticed.
  std::atomic<bool> cancel{false};
  std::size_t lines = 0;
  ProcessOptions o;
  o.cancel = &cancel;
  o.onStdoutLine = [&](std::string_view) { ++lines; };
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel = true;
  });
  const auto start = Clock::now();
  auto r = runProcess({"yes"}, o);
  canceller.join();
  EXPECT_LT(secondsSince(start), 0.2 + 1.5);
  EXPECT_TRUE(r.cancelled);
  EXPECT_GT(lines, 0u);
}

// With every file descriptor in use (EMFILE), a tool cannot start: that is a passing
// shortage, so ffprobe's failure must be the retried kind (jobs::ResourceShortage), not
// MediaError (the job would fail for good: what the attack run found). Run in a child
// process (a death test), so the descriptor limit does not touch the test runner.
TEST(ProcessRunnerDeathTest, RunningOutOfFileDescriptorsIsATransientShortage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        struct rlimit limit {};
        ::getrlimit(RLIMIT_NOFILE, &limit);
        limit.rlim_cur = 64;
        ::setrlimit(RLIMIT_NOFILE, &limit);
        while (::open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0) {
        }
        auto result = runProcess({"true"});
        if (result.succeeded() || !herald::jobs::isResourceShortage(result.errorNumber)) {
          std::_Exit(1);
        }
        try {
          probeMedia("/dev/null", "ffprobe");
        } catch (const herald::jobs::ResourceShortage&) {
          std::_Exit(0);
        } catch (...) {
          std::_Exit(2);
        }
        std::_Exit(3);
      },
      ::testing::ExitedWithCode(0), "");
}
