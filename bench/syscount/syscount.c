// LD_PRELOAD shim that counts a server's write system calls on sockets, so the
// benchmark can report "writes per delivery" for every peer the same way.
//
// Why not /proc/<pid>/io syscw: the kernel counts only write(2)/writev(2)-family calls
// there; send(2), sendto(2) and sendmsg(2) (what Asio and nginx use for sockets) never
// show up. This shim wraps all of them in libc and counts the calls whose descriptor is
// a socket (checked once per descriptor with fstat, cached until close).
//
// Counters live in a shared file named by $HERALD_SYSCOUNT_FILE (mmap'ed, so forked
// children such as nginx's worker add to the same counters); the load generator maps
// the same file and reads them. Layout: struct syscount_counters below.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct syscount_counters {
  uint64_t magic;                       // 0x5359534e54 ("SYSNT") once initialised
  _Atomic uint64_t sock_write_calls;    // write/writev/send/sendto/sendmsg on sockets
  _Atomic uint64_t sock_write_bytes;    // bytes those calls reported written
  _Atomic uint64_t sock_sendmmsg_msgs;  // messages sent by sendmmsg (counted as calls too)
  _Atomic uint64_t other_write_calls;   // write/writev on anything else (logs, eventfds, pipes)
};

static struct syscount_counters* counters;
static struct syscount_counters dummy;

#define FD_CACHE 65536
static _Atomic unsigned char fd_kind[FD_CACHE];  // 0 unknown, 1 socket, 2 other

static ssize_t (*real_write)(int, const void*, size_t);
static ssize_t (*real_writev)(int, const struct iovec*, int);
static ssize_t (*real_send)(int, const void*, size_t, int);
static ssize_t (*real_sendto)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
static ssize_t (*real_sendmsg)(int, const struct msghdr*, int);
static int (*real_sendmmsg)(int, struct mmsghdr*, unsigned int, int);
static int (*real_close)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_socket)(int, int, int);
static int (*real_accept)(int, struct sockaddr*, socklen_t*);
static int (*real_accept4)(int, struct sockaddr*, socklen_t*, int);

// Resolves a wrapped function on first use (a call may come before the constructor).
static void* resolve(void** slot, const char* name) {
  if (!*slot) *slot = dlsym(RTLD_NEXT, name);
  return *slot;
}
#define REAL(name) ((__typeof__(real_##name))resolve((void**)&real_##name, #name))

__attribute__((constructor)) static void syscount_init(void) {
  real_write = dlsym(RTLD_NEXT, "write");
  real_writev = dlsym(RTLD_NEXT, "writev");
  real_send = dlsym(RTLD_NEXT, "send");
  real_sendto = dlsym(RTLD_NEXT, "sendto");
  real_sendmsg = dlsym(RTLD_NEXT, "sendmsg");
  real_sendmmsg = dlsym(RTLD_NEXT, "sendmmsg");
  real_close = dlsym(RTLD_NEXT, "close");
  real_dup2 = dlsym(RTLD_NEXT, "dup2");
  real_dup3 = dlsym(RTLD_NEXT, "dup3");
  real_socket = dlsym(RTLD_NEXT, "socket");
  real_accept = dlsym(RTLD_NEXT, "accept");
  real_accept4 = dlsym(RTLD_NEXT, "accept4");
  counters = &dummy;
  const char* path = getenv("HERALD_SYSCOUNT_FILE");
  if (!path || !*path) return;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (ftruncate(fd, 4096) == 0) {
    void* p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      counters = p;
      counters->magic = 0x5359534e54ULL;
    }
  }
  real_close(fd);
}

static int is_socket(int fd) {
  if (fd < 0) return 0;
  if (fd < FD_CACHE) {
    unsigned char k = atomic_load_explicit(&fd_kind[fd], memory_order_relaxed);
    if (k) return k == 1;
  }
  struct stat st;
  int sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
  if (fd < FD_CACHE) atomic_store_explicit(&fd_kind[fd], sock ? 1 : 2, memory_order_relaxed);
  return sock;
}

static void mark(int fd, unsigned char kind) {
  if (fd >= 0 && fd < FD_CACHE) atomic_store_explicit(&fd_kind[fd], kind, memory_order_relaxed);
}

static void count(int fd, ssize_t r) {
  if (!counters) return;  // before the constructor ran
  if (is_socket(fd)) {
    atomic_fetch_add_explicit(&counters->sock_write_calls, 1, memory_order_relaxed);
    if (r > 0)
      atomic_fetch_add_explicit(&counters->sock_write_bytes, (uint64_t)r, memory_order_relaxed);
  } else {
    atomic_fetch_add_explicit(&counters->other_write_calls, 1, memory_order_relaxed);
  }
}

ssize_t write(int fd, const void* buf, size_t n) {
  ssize_t r = REAL(write)(fd, buf, n);
  count(fd, r);
  return r;
}

ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  ssize_t r = REAL(writev)(fd, iov, cnt);
  count(fd, r);
  return r;
}

ssize_t send(int fd, const void* buf, size_t n, int flags) {
  ssize_t r = REAL(send)(fd, buf, n, flags);
  count(fd, r);
  return r;
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const struct sockaddr* a,
               socklen_t l) {
  ssize_t r = REAL(sendto)(fd, buf, n, flags, a, l);
  count(fd, r);
  return r;
}

ssize_t sendmsg(int fd, const struct msghdr* m, int flags) {
  ssize_t r = REAL(sendmsg)(fd, m, flags);
  count(fd, r);
  return r;
}

int sendmmsg(int fd, struct mmsghdr* v, unsigned int n, int flags) {
  int r = REAL(sendmmsg)(fd, v, n, flags);
  count(fd, r > 0 ? 0 : r);
  if (r > 0 && counters)
    atomic_fetch_add_explicit(&counters->sock_sendmmsg_msgs, (uint64_t)r, memory_order_relaxed);
  return r;
}

int close(int fd) {
  mark(fd, 0);
  return REAL(close)(fd);
}

int dup2(int from, int to) {
  int r = REAL(dup2)(from, to);
  if (r >= 0) mark(r, 0);
  return r;
}

int dup3(int from, int to, int flags) {
  int r = REAL(dup3)(from, to, flags);
  if (r >= 0) mark(r, 0);
  return r;
}

// New sockets are marked at birth, so a descriptor number that a file closed through
// libc's internal close (fclose) left cached as "other" is corrected on reuse.
int socket(int domain, int type, int protocol) {
  int r = REAL(socket)(domain, type, protocol);
  if (r >= 0) mark(r, 1);
  return r;
}

int accept(int fd, struct sockaddr* a, socklen_t* l) {
  int r = REAL(accept)(fd, a, l);
  if (r >= 0) mark(r, 1);
  return r;
}

int accept4(int fd, struct sockaddr* a, socklen_t* l, int flags) {
  int r = REAL(accept4)(fd, a, l, flags);
  if (r >= 0) mark(r, 1);
  return r;
}
