// send-floor: what one WebSocket-sized write per delivery costs on this machine's
// loopback, with no server logic at all. A child process (pinned to the generator's
// core) opens N TCP connections and drains them with epoll; the parent (pinned to the
// server's core) sends M messages of B bytes round-robin over the connections, one
// send(2) each, and reports its own CPU time per send. That is the floor under any
// server's "CPU per delivery" in bench/run (which also pays for epoll, framing and
// bookkeeping).
//
// Usage: send-floor [connections=1000] [messages=300000] [bytes=380] [server_cpu=0] [client_cpu=1]
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

static double cpu_seconds(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1000;
  long m = argc > 2 ? atol(argv[2]) : 300000;
  int bytes = argc > 3 ? atoi(argv[3]) : 380;
  int server_cpu = argc > 4 ? atoi(argv[4]) : 0;
  int client_cpu = argc > 5 ? atoi(argv[5]) : 1;
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t al = sizeof a;
  if (bind(lfd, (struct sockaddr*)&a, sizeof a) || listen(lfd, 4096) ||
      getsockname(lfd, (struct sockaddr*)&a, &al)) {
    perror("listen");
    return 1;
  }
  pid_t child = fork();
  if (child == 0) {  // the receiving side
    pin(client_cpu);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(fd, (struct sockaddr*)&a, sizeof a)) {
        perror("connect");
        _exit(1);
      }
      struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    static char buf[1 << 16];
    struct epoll_event evs[512];
    long got = 0, want = m * (long)bytes;
    while (got < want) {
      int k = epoll_wait(ep, evs, 512, 1000);
      for (int i = 0; i < k; ++i) {
        ssize_t r = read(evs[i].data.fd, buf, sizeof buf);
        if (r > 0) got += r;
      }
    }
    _exit(0);
  }
  pin(server_cpu);
  int* fds = calloc(n, sizeof *fds);
  for (int i = 0; i < n; ++i) {
    fds[i] = accept(lfd, NULL, NULL);
    int one = 1;
    setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  char* msg = malloc(bytes);
  memset(msg, 'x', bytes);
  double c0 = cpu_seconds(), t0 = now();
  for (long i = 0; i < m; ++i) {
    const char* p = msg;
    int left = bytes;
    while (left > 0) {
      ssize_t w = send(fds[i % n], p, left, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        perror("send");
        return 1;
      }
      p += w;
      left -= (int)w;
    }
  }
  double c1 = cpu_seconds(), t1 = now();
  int status = 0;
  waitpid(child, &status, 0);
  printf(
      "{\"connections\":%d,\"messages\":%ld,\"bytes\":%d,\"cpuUsPerSend\":%.3f,\"sendsPerSecond\":%"
      ".0f}\n",
      n, m, bytes, (c1 - c0) * 1e6 / m, m / (t1 - t0));
  return 0;
}
