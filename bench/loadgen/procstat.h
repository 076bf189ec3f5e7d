#pragma once
// Reads the server under test from /proc (CPU time, resident memory, write syscalls)
// and the write counters of the LD_PRELOAD shim (bench/syscount). The server may be
// several processes (nginx: master + worker); every reading sums over all of them.
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace loadgen {

struct ServerSample {
  double cpuSeconds = 0;         // sum of per-thread on-CPU time (schedstat, ns precision)
  double runDelaySeconds = 0;    // sum of per-thread time runnable but waiting for a CPU
  double cpuSecondsTicks = 0;    // utime+stime from /proc/<pid>/stat (includes exited threads)
  double userSeconds = 0;        // utime alone (clock-tick resolution)
  double systemSeconds = 0;      // stime alone
  std::int64_t rssBytes = 0;     // VmRSS
  std::uint64_t syscw = 0;       // /proc/<pid>/io: write(2)-family calls only
  std::uint64_t sockWrites = 0;  // shim: write/writev/send/sendto/sendmsg on sockets
  std::uint64_t sockWriteBytes = 0;
  bool haveShim = false;
};

class ServerProbe {
 public:
  // `pids`: the server's processes; each one's direct children are added (nginx worker).
  ServerProbe(std::vector<int> pids, const std::string& syscountFile) {
    for (int pid : pids) {
      add(pid);
      for (int child : childrenOf(pid)) add(child);
    }
    if (!syscountFile.empty()) {
      int fd = open(syscountFile.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        void* p = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) shim_ = static_cast<const volatile std::uint64_t*>(p);
        ::close(fd);
      }
    }
  }

  const std::vector<int>& pids() const { return pids_; }
  bool alive() const {
    for (int pid : pids_)
      if (::kill(pid, 0) != 0) return false;
    return !pids_.empty();
  }

  ServerSample sample() const {
    ServerSample s;
    static const double tick = double(sysconf(_SC_CLK_TCK));
    for (int pid : pids_) {
      // Per-thread schedstat: first field is ns spent on a CPU.
      std::string taskDir = "/proc/" + std::to_string(pid) + "/task";
      if (DIR* d = opendir(taskDir.c_str())) {
        while (dirent* e = readdir(d)) {
          if (e->d_name[0] == '.') continue;
          std::ifstream f(taskDir + "/" + e->d_name + "/schedstat");
          std::uint64_t ns = 0, waited = 0;
          if (f >> ns >> waited) {
            s.cpuSeconds += double(ns) / 1e9;
            s.runDelaySeconds += double(waited) / 1e9;
          }
        }
        closedir(d);
      }
      {
        std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        std::getline(f, line);
        auto close = line.rfind(')');
        if (close != std::string::npos) {
          std::istringstream in(line.substr(close + 2));
          std::string field;
          // Fields after "(comm)": state is field 3; utime is 14, stime 15.
          std::vector<std::string> fields;
          while (in >> field) fields.push_back(field);
          if (fields.size() > 13) {
            s.userSeconds += std::stod(fields[11]) / tick;
            s.systemSeconds += std::stod(fields[12]) / tick;
            s.cpuSecondsTicks += (std::stod(fields[11]) + std::stod(fields[12])) / tick;
          }
        }
      }
      {
        std::ifstream f("/proc/" + std::to_string(pid) + "/status");
        std::string key;
        while (f >> key) {
          if (key == "VmRSS:") {
            std::int64_t kb = 0;
            f >> kb;
            s.rssBytes += kb * 1024;
            break;
          }
          std::string rest;
          std::getline(f, rest);
        }
      }
      {
        std::ifstream f("/proc/" + std::to_string(pid) + "/io");
        std::string key;
        std::uint64_t v;
        while (f >> key >> v) {
          if (key == "syscw:") s.syscw += v;
        }
      }
    }
    if (shim_ && shim_[0] == 0x5359534e54ULL) {
      s.haveShim = true;
      s.sockWrites = shim_[1];
      s.sockWriteBytes = shim_[2];
    }
    return s;
  }

 private:
  void add(int pid) {
    for (int p : pids_)
      if (p == pid) return;
    pids_.push_back(pid);
  }
  static std::vector<int> childrenOf(int pid) {
    std::vector<int> out;
    DIR* d = opendir("/proc");
    if (!d) return out;
    while (dirent* e = readdir(d)) {
      int p = std::atoi(e->d_name);
      if (p <= 0) continue;
      std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
      std::string line;
      std::getline(f, line);
      auto close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream in(line.substr(close + 2));
      std::string state;
      int ppid = 0;
      in >> state >> ppid;
      if (ppid == pid) out.push_back(p);
    }
    closedir(d);
    return out;
  }

  std::vector<int> pids_;
  const volatile std::uint64_t* shim_ = nullptr;
};

// Busy (non-idle) seconds of one CPU since boot, from /proc/stat: with the server pinned
// to one core and the generator to the other, busy time minus their own CPU time is what
// other work on the machine took from that core.
inline double cpuBusySeconds(int cpu) {
  std::ifstream f("/proc/stat");
  std::string line, want = "cpu" + std::to_string(cpu);
  static const double tick = double(sysconf(_SC_CLK_TCK));
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string name;
    in >> name;
    if (name != want) continue;
    double v[10] = {};
    for (double& x : v) in >> x;
    // user nice system idle iowait irq softirq steal guest guest_nice
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick;
  }
  return 0;
}

// Time this process's threads were runnable but not running (another task had the CPU):
// shows contention from other work on the machine.
inline double selfRunDelaySeconds() {
  double total = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/schedstat");
      std::uint64_t ns = 0, waited = 0;
      if (f >> ns >> waited) total += double(waited) / 1e9;
    }
    closedir(d);
  }
  return total;
}

// Kernel (system) CPU seconds this process has used.
inline double selfSystemSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) / 1e6;
}

// CPU seconds this process has used (user + system).
inline double selfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace loadgen
