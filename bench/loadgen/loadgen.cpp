// herald-loadgen: one-process WebSocket fan-out load generator.
//
// Opens thousands of WebSocket subscribers against one server (Herald over SignalR JSON
// or MessagePack, Nchan, Socket.IO 4, or a plain `ws` broadcast server), subscribes each
// to a group, then publishes over HTTP keep-alive on an open-loop schedule and checks
// every delivery: latency against the scheduled publish time (same monotonic clock,
// same process), and per-subscriber order, loss and duplicates from the sequence number
// each publish carries. The server's CPU time, resident memory and socket writes are
// read from /proc and the bench/syscount shim around every step; the generator's own
// CPU time is reported too, so a saturated generator is visible.
//
// Single-threaded epoll loop (loop.h). See bench/README.md for the phases and output.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common.h"
#include "loop.h"
#include "msgpack_reader.h"
#include "procstat.h"

namespace loadgen {

namespace json = boost::json;

enum class Peer { HeraldJson, HeraldMsgpack, Nchan, SocketIo, Ws };

Peer parsePeer(const std::string& s) {
  if (s == "herald-json") return Peer::HeraldJson;
  if (s == "herald-msgpack") return Peer::HeraldMsgpack;
  if (s == "nchan") return Peer::Nchan;
  if (s == "socketio") return Peer::SocketIo;
  if (s == "ws") return Peer::Ws;
  throw std::runtime_error("unknown --peer " + s +
                           " (herald-json, herald-msgpack, nchan, socketio, ws)");
}

bool isHerald(Peer p) { return p == Peer::HeraldJson || p == Peer::HeraldMsgpack; }

// ---------------------------------------------------------------------------------
// Options

struct Options {
  std::string peerName = "herald-json";
  std::string label;  // the name results are recorded under; --peer when empty
  Peer peer = Peer::HeraldJson;
  std::string host = "127.0.0.1";
  int port = 5000;
  int publishPort = 0;          // where publishes (and Herald's job creation) go; 0: --port
  std::string phase = "small";  // small | big | hold
  int connections = 10000;
  int groupSize = 5;
  int payloadBytes = 300;
  std::vector<double> rates;  // deliveries per second, one ladder step each
  double lightRate = 1000;    // deliveries/s of the light-load latency step (0: skip)
  double lightSeconds = 3;
  double stepSeconds = 2;
  double drainSeconds = 3;  // per step: how long to wait for stragglers
  double finalDrainSeconds = 10;
  double idleSeconds = 2;   // before the idle-memory reading
  double holdSeconds = 15;  // phase hold
  double holdRate = 2000;   // phase hold: deliveries/s during the hold
  double p99LimitMs = 250;
  double genCpuLimit = 0.95;  // a step using more generator CPU than this is suspect
  // A failed ladder step during which the server or the generator waited for its core
  // (other work on the machine) longer than this share of the step is run once more.
  double contendedShare = 0.10;
  int serverCpu = -1;     // the core the server is pinned to (-1: unknown)
  int generatorCpu = -1;  // the core this generator is pinned to
  int publishers = 16;
  int connectConcurrency = 256;
  double connectTimeoutSeconds = 120;
  double clientPingSeconds = 15;  // SignalR client pings (server times out after 60 s)
  std::vector<int> serverPids;
  std::string syscountFile;
  std::string out;
  std::string tag;  // free-form label copied into the result (e.g. "ka1")
  // TCP_QUICKACK after every read: the generator acknowledges at once instead of after
  // the delayed-ACK timer (up to 40 ms), so a server that leaves Nagle's algorithm on is
  // never charged for the client's ACK timer. Applied to every peer alike; on a quiet
  // machine it made no measurable difference for any of them (--no-quickack to check).
  bool quickAck = true;
  bool strict = false;  // exit 1 on any loss/dup/reorder/disconnect or zero deliveries
  bool quiet = false;
  // Herald with AppSettings:EnableAuth: sent as `Authorization: Bearer` on every
  // WebSocket upgrade and POST (a JWT, or a worker API key), to measure authentication.
  std::string bearer;
};

void usage() {
  std::cerr <<
      R"(usage: herald-loadgen --peer P --port N [options]
  --peer herald-json|herald-msgpack|nchan|socketio|ws
  --label NAME              name the results are recorded under (default: the peer),
                            e.g. a server configuration of the same protocol
  --host 127.0.0.1          --port N
  --publish-port N          publish to this port instead (a cluster: subscribers on one
                            node, publishes on another)
  --bearer TOKEN            Authorization: Bearer TOKEN on upgrades and POSTs (Herald
                            with EnableAuth; an admin token sees every job)
  --phase small|big|hold    small/big: connect, idle memory, [light step], rate ladder
                            hold: connect, then hold with pings and light publishing
  --connections N (10000)   --group-size N (5)      --payload-bytes N (300)
  --rates a,b,c             delivery rates (deliveries/s) of the ladder; stops at the
                            first step with p99 > --p99-limit-ms, loss, dup, reorder,
                            disconnects or publish errors
  --light-rate R (1000)     --light-seconds S (3)   (0 rate: no light step)
  --step-seconds S (2)      --drain-seconds S (3)   --final-drain-seconds S (10)
  --idle-seconds S (2)      --hold-seconds S (15)   --hold-rate R (2000)
  --server-cpu N, --generator-cpu N   the cores both are pinned to: other work on them
                            is measured per step (/proc/stat busy time minus our own)
  --contended-share F (0.1) a failed step during which other work took more than F of
                            the server's or the generator's core is retried once (after
                            a drain); without --server-cpu, the generator's run delay decides
  --publishers N (16)       HTTP keep-alive publisher connections
  --connect-concurrency N (256)   --client-ping-seconds S (15)
  --server-pid PID          (repeatable; children are included) for CPU/RSS/writes
  --syscount-file PATH      counters of the LD_PRELOAD shim loaded into the server
  --out FILE                result JSON (default: stdout)
  --tag NAME                label copied into the result (tells two runs of a phase apart)
  --no-quickack             leave delayed ACKs on (see Options::quickAck)
  --strict                  exit 1 on any loss, duplicate, reorder, disconnect or
                            publish error, or if nothing was delivered
)";
}

std::vector<double> parseRates(const std::string& s) {
  std::vector<double> out;
  for (auto& part : split(s, ',')) out.push_back(std::stod(part));
  return out;
}

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error("missing value for " + k);
      return argv[++i];
    };
    if (k == "--help" || k == "-h") {
      usage();
      std::exit(0);
    } else if (k == "--peer") {
      o.peerName = val();
      o.peer = parsePeer(o.peerName);
    } else if (k == "--label")
      o.label = val();
    else if (k == "--host")
      o.host = val();
    else if (k == "--bearer")
      o.bearer = val();
    else if (k == "--port")
      o.port = std::stoi(val());
    else if (k == "--publish-port")
      o.publishPort = std::stoi(val());
    else if (k == "--phase")
      o.phase = val();
    else if (k == "--connections")
      o.connections = std::stoi(val());
    else if (k == "--group-size")
      o.groupSize = std::stoi(val());
    else if (k == "--payload-bytes")
      o.payloadBytes = std::stoi(val());
    else if (k == "--rates")
      o.rates = parseRates(val());
    else if (k == "--light-rate")
      o.lightRate = std::stod(val());
    else if (k == "--light-seconds")
      o.lightSeconds = std::stod(val());
    else if (k == "--step-seconds")
      o.stepSeconds = std::stod(val());
    else if (k == "--drain-seconds")
      o.drainSeconds = std::stod(val());
    else if (k == "--final-drain-seconds")
      o.finalDrainSeconds = std::stod(val());
    else if (k == "--idle-seconds")
      o.idleSeconds = std::stod(val());
    else if (k == "--hold-seconds")
      o.holdSeconds = std::stod(val());
    else if (k == "--hold-rate")
      o.holdRate = std::stod(val());
    else if (k == "--p99-limit-ms")
      o.p99LimitMs = std::stod(val());
    else if (k == "--gen-cpu-limit")
      o.genCpuLimit = std::stod(val());
    else if (k == "--contended-share")
      o.contendedShare = std::stod(val());
    else if (k == "--server-cpu")
      o.serverCpu = std::stoi(val());
    else if (k == "--generator-cpu")
      o.generatorCpu = std::stoi(val());
    else if (k == "--publishers")
      o.publishers = std::stoi(val());
    else if (k == "--connect-concurrency")
      o.connectConcurrency = std::stoi(val());
    else if (k == "--connect-timeout-seconds")
      o.connectTimeoutSeconds = std::stod(val());
    else if (k == "--client-ping-seconds")
      o.clientPingSeconds = std::stod(val());
    else if (k == "--server-pid")
      o.serverPids.push_back(std::stoi(val()));
    else if (k == "--syscount-file")
      o.syscountFile = val();
    else if (k == "--out")
      o.out = val();
    else if (k == "--tag")
      o.tag = val();
    else if (k == "--strict")
      o.strict = true;
    else if (k == "--no-quickack")
      o.quickAck = false;
    else if (k == "--quiet")
      o.quiet = true;
    else
      throw std::runtime_error("unknown option " + k);
  }
  if (o.phase != "small" && o.phase != "big" && o.phase != "hold") {
    throw std::runtime_error("--phase must be small, big or hold");
  }
  if (o.groupSize < 1 || o.connections < o.groupSize) {
    throw std::runtime_error("need --connections >= --group-size >= 1");
  }
  return o;
}

// ---------------------------------------------------------------------------------
// Per-step counters

struct StepStats {
  Histogram latency;
  Histogram publishAck;             // scheduled publish time -> HTTP answer received
  std::uint64_t published = 0;      // publishes scheduled (and sent) in the step
  std::uint64_t publishErrors = 0;  // non-2xx answers or broken publisher connections
  std::uint64_t expected = 0;       // deliveries owed: sum of ready members per publish
  std::uint64_t unique = 0;         // first receipt of (subscriber, seq)
  std::uint64_t duplicates = 0;
  std::uint64_t reorders = 0;  // filled an earlier gap
  std::uint64_t gaps = 0;      // a sequence number was skipped (may be filled later)
  std::uint64_t disconnects = 0;
  std::uint64_t serverPings = 0;
  std::uint64_t framesReceived = 0;  // WebSocket messages carrying deliveries
  // Optional: worst latency per 100 ms of receive time (hold phase), to show stalls.
  std::int64_t timelineStart = 0;
  std::vector<std::int64_t> timelineMax;
};

class Bench;

// ---------------------------------------------------------------------------------
// A WebSocket subscriber

enum class SubState {
  Idle,
  Connecting,
  Upgrading,
  Handshaking,
  Joining,
  Subscribing,
  Ready,
  Closed
};

class Subscriber final : public IoHandler {
 public:
  Subscriber(Bench& b, int id, int group) : b_(b), id_(id), group_(group) {}
  ~Subscriber() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void start();
  void onIo(std::uint32_t events) override;
  void sendFrame(std::uint8_t opcode, std::string_view data);
  void fail(const std::string& reason);

  int id() const { return id_; }
  int group() const { return group_; }
  SubState state() const { return st_; }
  void setState(SubState s) { st_ = s; }

  // Order/loss bookkeeping (sequence numbers are per group, from 1).
  std::int64_t highest = 0;
  std::vector<std::int64_t> missing;
  std::int64_t nextPingNs = 0;
  std::uint64_t serverPings = 0;

 private:
  void onReadable();
  void consume(const char* p, std::size_t n, std::int64_t now);
  void frames(const char* p, std::size_t n, std::int64_t now);
  void handleFrame(bool fin, std::uint8_t opcode, const char* p, std::size_t n, std::int64_t now);
  void sendRaw(std::string_view data);
  void flush();

  Bench& b_;
  const int id_;
  const int group_;
  int fd_ = -1;
  SubState st_ = SubState::Idle;
  std::string rx_;   // an incomplete frame (or the upgrade response) carried to the next read
  std::string msg_;  // a fragmented message being assembled
  std::uint8_t msgOpcode_ = 0;
  std::string tx_;  // bytes the socket did not take yet
  bool wantWrite_ = false;
};

// ---------------------------------------------------------------------------------
// HTTP/1.1 keep-alive publisher connection. Requests are pipelined (up to kMaxDepth
// unanswered), so the publish rate never waits for a round trip (open loop); a group
// always publishes through the same connection, and HTTP/1.1 servers handle one
// connection's requests in order, so a group's publishes reach the server in order.

struct HttpRequest {
  std::string bytes;
  std::function<void(int status, std::string_view body)> done;
};

class Publisher final : public IoHandler {
 public:
  Publisher(Bench& b, int id) : b_(b), id_(id) {}
  ~Publisher() override {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connect();  // false (and a noted error) when the server refuses
  void enqueue(HttpRequest r);
  void onIo(std::uint32_t events) override;
  std::size_t queued() const { return queue_.size(); }

  static constexpr std::size_t kMaxDepth = 64;

 private:
  void sendMore();
  void flush();
  void onReadable();
  void broken(const std::string& why);

  Bench& b_;
  const int id_;
  int fd_ = -1;
  std::deque<HttpRequest> queue_;  // unanswered, oldest first; the first `sent_` are written
  std::size_t sent_ = 0;
  std::string tx_;
  std::size_t txOff_ = 0;
  bool wantWrite_ = false;
  std::string rx_;
};

// ---------------------------------------------------------------------------------

struct Group {
  std::string name;  // Herald jobId, Nchan channel, room or ws path
  std::int64_t seq = 0;
  int ready = 0;
};

class Bench {
 public:
  explicit Bench(Options o)
      : opt_(std::move(o)), probe_(opt_.serverPids, opt_.syscountFile), step_(&scratchStats_) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(opt_.port));
    if (inet_pton(AF_INET, opt_.host.c_str(), &a.sin_addr) != 1) {
      throw std::runtime_error("--host must be an IPv4 address");
    }
    addr_ = a;
    publishAddr_ = a;
    if (opt_.publishPort > 0)
      publishAddr_.sin_port = htons(static_cast<uint16_t>(opt_.publishPort));
  }

  Loop& loop() { return loop_; }
  const Options& opt() const { return opt_; }
  const sockaddr_in& addr() const { return addr_; }
  const sockaddr_in& publishAddr() const { return publishAddr_; }
  StepStats& stats() { return *step_; }

  int run();

  // Called by subscribers.
  void onMessage(Subscriber& s, const char* p, std::size_t n, bool binary, std::int64_t now);
  void onUpgraded(Subscriber& s);
  void onSubscriberFailed(Subscriber& s, SubState was, const std::string& reason);
  void startMore();
  void noteError(const std::string& reason) { ++errors_[reason]; }

  std::string upgradeRequest(const Subscriber& s) const;

 private:
  // Phases
  void setUpGroups(int count, const std::string& prefix);
  bool connectAll();
  json::object idleMemory(const ServerSample& before);
  json::object runStep(const std::string& label, double deliveriesPerSec, double seconds);
  json::object finalDrain();
  std::uint64_t owed() const;
  void settle(double seconds);
  void runUntil(const std::function<bool()>& done, std::int64_t deadline);
  void periodic(std::int64_t now);
  void pumpSchedule(std::int64_t now);
  void publishOne(std::int64_t scheduledNs);
  std::string publishRequest(const Group& g, std::int64_t seq, std::int64_t t) const;
  std::string httpPost(const std::string& path, const std::string& body) const;

  // Deliveries
  void deliver(Subscriber& s, std::int64_t seq, std::int64_t t, std::int64_t now);
  void deliverJson(Subscriber& s, std::string_view text, std::int64_t now);
  void markReady(Subscriber& s);
  void heraldJson(Subscriber& s, const char* p, std::size_t n, std::int64_t now);
  void heraldMsgpack(Subscriber& s, const char* p, std::size_t n, std::int64_t now);
  void socketIo(Subscriber& s, std::string_view text, std::int64_t now);

  void log(const std::string& line) const {
    if (!opt_.quiet)
      std::cerr << "[loadgen " << opt_.peerName << "/" << opt_.phase << "] " << line << std::endl;
  }

  Options opt_;
  Loop loop_;
  sockaddr_in addr_{};
  sockaddr_in publishAddr_{};
  ServerProbe probe_;
  std::vector<Group> groups_;
  std::vector<std::unique_ptr<Subscriber>> subs_;
  std::vector<std::unique_ptr<Publisher>> pubs_;
  std::map<std::string, std::uint64_t> errors_;

  // connection ramp
  std::size_t nextToStart_ = 0;
  int inProgress_ = 0;
  int ready_ = 0;
  int connectFailures_ = 0;

  // open-loop schedule
  bool schedActive_ = false;
  std::int64_t schedStart_ = 0, schedEnd_ = 0;
  double schedInterval_ = 0;
  std::uint64_t schedK_ = 0;
  std::uint64_t publishCounter_ = 0;  // round-robin over groups across steps
  std::int64_t pendingRequests_ = 0;

  std::int64_t nextTick_ = 0;
  StepStats scratchStats_;
  StepStats* step_;
  // Bumped whenever step_ changes. Steps keep their StepStats on the stack, so an HTTP
  // answer that arrives after its step ended must not touch them (it did, and corrupted
  // the heap when a slow server answered late).
  std::uint64_t stepId_ = 0;
  void setStep(StepStats* s) {
    step_ = s;
    ++stepId_;
  }
  StepStats total_;  // dup/reorder/disconnect totals across steps
  std::string padding_;
  std::int64_t lastDeliveryNs_ = 0;

  friend class Subscriber;
  friend class Publisher;
};

// ---------------------------------------------------------------------------------
// Subscriber implementation

static int newSocket() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void Subscriber::start() {
  fd_ = newSocket();
  if (fd_ < 0) {
    fail("socket: " + std::string(strerror(errno)));
    return;
  }
  const auto& a = b_.addr();
  int r = ::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  if (r != 0 && errno != EINPROGRESS) {
    fail("connect: " + std::string(strerror(errno)));
    return;
  }
  st_ = SubState::Connecting;
  b_.loop().add(fd_, this, EPOLLIN | EPOLLOUT);
}

void Subscriber::onIo(std::uint32_t events) {
  if (st_ == SubState::Closed) return;
  if (st_ == SubState::Connecting) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      fail("connect: " + std::string(strerror(err)));
      return;
    }
    st_ = SubState::Upgrading;
    b_.loop().modify(fd_, this, EPOLLIN);
    sendRaw(b_.upgradeRequest(*this));
    return;
  }
  if ((events & EPOLLOUT) && wantWrite_) flush();
  if (st_ == SubState::Closed) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) onReadable();
}

void Subscriber::onReadable() {
  char* buf = b_.loop().scratch();
  ssize_t n = ::read(fd_, buf, b_.loop().scratchSize());
  if (n > 0) {
    if (b_.opt().quickAck) {
      int one = 1;
      setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    consume(buf, static_cast<std::size_t>(n), nowNs());
  } else if (n == 0) {
    fail("closed by server");
  } else if (errno != EAGAIN && errno != EINTR) {
    fail("read: " + std::string(strerror(errno)));
  }
}

void Subscriber::consume(const char* p, std::size_t n, std::int64_t now) {
  if (st_ == SubState::Upgrading) {
    rx_.append(p, n);
    auto end = rx_.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (rx_.size() > 16384) fail("upgrade response too large");
      return;
    }
    if (rx_.compare(0, 12, "HTTP/1.1 101") != 0) {
      fail("upgrade refused: " + rx_.substr(0, std::min<std::size_t>(rx_.find("\r\n"), 60)));
      return;
    }
    std::string rest = rx_.substr(end + 4);
    rx_.clear();
    b_.onUpgraded(*this);
    if (st_ == SubState::Closed || rest.empty()) return;
    frames(rest.data(), rest.size(), now);
    return;
  }
  frames(p, n, now);
}

void Subscriber::frames(const char* p, std::size_t n, std::int64_t now) {
  std::string carried;
  if (!rx_.empty()) {
    rx_.append(p, n);
    carried.swap(rx_);
    p = carried.data();
    n = carried.size();
  }
  std::size_t off = 0;
  while (n - off >= 2) {
    auto b0 = static_cast<std::uint8_t>(p[off]);
    auto b1 = static_cast<std::uint8_t>(p[off + 1]);
    std::size_t hdr = 2;
    std::uint64_t len = b1 & 0x7f;
    if (len == 126) {
      if (n - off < 4) break;
      len = (std::uint64_t(std::uint8_t(p[off + 2])) << 8) | std::uint8_t(p[off + 3]);
      hdr = 4;
    } else if (len == 127) {
      if (n - off < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | std::uint8_t(p[off + 2 + i]);
      hdr = 10;
    }
    if (b1 & 0x80) {
      fail("server sent a masked frame");
      return;
    }
    if (n - off < hdr + len) break;
    handleFrame(b0 & 0x80, b0 & 0x0f, p + off + hdr, len, now);
    if (st_ == SubState::Closed) return;
    off += hdr + len;
  }
  if (off < n) rx_.assign(p + off, n - off);
}

void Subscriber::handleFrame(bool fin, std::uint8_t opcode, const char* p, std::size_t n,
                             std::int64_t now) {
  switch (opcode) {
    case 0x8: {  // close
      std::string why = "websocket close";
      if (n >= 2) why += " " + std::to_string((std::uint8_t(p[0]) << 8) | std::uint8_t(p[1]));
      if (n > 2) why += " " + std::string(p + 2, std::min<std::size_t>(n - 2, 80));
      fail(why);
      return;
    }
    case 0x9: sendFrame(0xA, std::string_view(p, n)); return;  // ping -> pong
    case 0xA: return;
    case 0x1:
    case 0x2:
      if (fin && msg_.empty()) {
        b_.onMessage(*this, p, n, opcode == 0x2, now);
        return;
      }
      msgOpcode_ = opcode;
      msg_.assign(p, n);
      return;
    case 0x0:
      msg_.append(p, n);
      if (fin) {
        std::string m;
        m.swap(msg_);
        b_.onMessage(*this, m.data(), m.size(), msgOpcode_ == 0x2, now);
      }
      return;
    default: fail("unknown websocket opcode " + std::to_string(opcode));
  }
}

// Client frames must be masked; a zero key leaves the payload as is (RFC 6455 allows
// any key; servers only unmask), which saves the generator a pass over the bytes.
void Subscriber::sendFrame(std::uint8_t opcode, std::string_view data) {
  std::string out;
  out.reserve(data.size() + 14);
  out.push_back(static_cast<char>(0x80 | opcode));
  if (data.size() < 126) {
    out.push_back(static_cast<char>(0x80 | data.size()));
  } else if (data.size() < 65536) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(data.size() >> 8));
    out.push_back(static_cast<char>(data.size() & 0xff));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i)
      out.push_back(static_cast<char>((std::uint64_t(data.size()) >> (8 * i)) & 0xff));
  }
  out.append(4, '\0');
  out.append(data);
  sendRaw(out);
}

void Subscriber::sendRaw(std::string_view data) {
  if (st_ == SubState::Closed) return;
  if (!tx_.empty()) {
    tx_.append(data);
    return;
  }
  ssize_t w = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
  if (w < 0) {
    if (errno != EAGAIN) {
      fail("send: " + std::string(strerror(errno)));
      return;
    }
    w = 0;
  }
  if (static_cast<std::size_t>(w) < data.size()) {
    tx_.assign(data.substr(static_cast<std::size_t>(w)));
    wantWrite_ = true;
    b_.loop().modify(fd_, this, EPOLLIN | EPOLLOUT);
  }
}

void Subscriber::flush() {
  ssize_t w = ::send(fd_, tx_.data(), tx_.size(), MSG_NOSIGNAL);
  if (w < 0) {
    if (errno != EAGAIN) fail("send: " + std::string(strerror(errno)));
    return;
  }
  tx_.erase(0, static_cast<std::size_t>(w));
  if (tx_.empty()) {
    wantWrite_ = false;
    b_.loop().modify(fd_, this, EPOLLIN);
  }
}

void Subscriber::fail(const std::string& reason) {
  if (st_ == SubState::Closed) return;
  auto was = st_;
  st_ = SubState::Closed;
  if (fd_ >= 0) {
    b_.loop().remove(fd_);
    ::close(fd_);
    fd_ = -1;
  }
  b_.onSubscriberFailed(*this, was, reason);
}

// ---------------------------------------------------------------------------------
// Publisher implementation

bool Publisher::connect() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error("publisher socket failed");
  const auto& a = b_.publishAddr();
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    b_.noteError("publisher connect: " + std::string(strerror(errno)));
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
  b_.loop().add(fd_, this, EPOLLIN);
  return true;
}

void Publisher::enqueue(HttpRequest r) {
  if (fd_ < 0 && !connect()) {  // the server is gone: the publish fails at once
    if (r.done) r.done(0, {});
    return;
  }
  queue_.push_back(std::move(r));
  sendMore();
}

void Publisher::sendMore() {
  if (fd_ < 0) return;
  bool added = false;
  while (sent_ < queue_.size() && sent_ < kMaxDepth) {
    if (txOff_ == tx_.size()) {
      tx_.clear();
      txOff_ = 0;
    }
    tx_ += queue_[sent_++].bytes;
    added = true;
  }
  if (added && !wantWrite_) flush();
}

void Publisher::flush() {
  while (txOff_ < tx_.size()) {
    ssize_t w = ::send(fd_, tx_.data() + txOff_, tx_.size() - txOff_, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) {
        if (!wantWrite_) b_.loop().modify(fd_, this, EPOLLIN | EPOLLOUT);
        wantWrite_ = true;
        return;
      }
      broken("send: " + std::string(strerror(errno)));
      return;
    }
    txOff_ += static_cast<std::size_t>(w);
  }
  tx_.clear();
  txOff_ = 0;
  if (wantWrite_) b_.loop().modify(fd_, this, EPOLLIN);
  wantWrite_ = false;
}

void Publisher::onIo(std::uint32_t events) {
  if (fd_ < 0) return;
  if ((events & EPOLLOUT) && wantWrite_) flush();
  if (fd_ >= 0 && (events & (EPOLLIN | EPOLLERR | EPOLLHUP))) onReadable();
}

static bool iequalsPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

void Publisher::onReadable() {
  char* buf = b_.loop().scratch();
  ssize_t n = ::read(fd_, buf, b_.loop().scratchSize());
  if (n == 0) {
    broken("publisher connection closed by server");
    return;
  }
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR)
      broken("publisher read: " + std::string(strerror(errno)));
    return;
  }
  rx_.append(buf, static_cast<std::size_t>(n));
  if (b_.opt().quickAck) {
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
  for (;;) {
    auto headEnd = rx_.find("\r\n\r\n");
    if (headEnd == std::string::npos) return;
    std::string_view head(rx_.data(), headEnd);
    int status = 0;
    if (head.size() > 12) status = std::atoi(std::string(head.substr(9, 3)).c_str());
    std::size_t bodyLen = 0;
    bool chunked = false, closeAfter = false;
    std::size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      auto next = head.find("\r\n", pos + 2);
      auto line =
          head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
      if (iequalsPrefix(line, "content-length:"))
        bodyLen = std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10);
      else if (iequalsPrefix(line, "transfer-encoding:") &&
               line.find("chunked") != std::string_view::npos)
        chunked = true;
      else if (iequalsPrefix(line, "connection:") && line.find("close") != std::string_view::npos)
        closeAfter = true;
      pos = next;
    }
    std::size_t total;
    std::string_view body;
    if (chunked) {
      auto end = rx_.find("\r\n0\r\n\r\n", headEnd + 2);
      if (end == std::string::npos) return;
      total = end + 7;
      body = std::string_view(rx_).substr(headEnd + 4, end + 2 - headEnd - 4);
    } else {
      if (rx_.size() < headEnd + 4 + bodyLen) return;
      total = headEnd + 4 + bodyLen;
      body = std::string_view(rx_).substr(headEnd + 4, bodyLen);
    }
    if (sent_ == 0) {
      b_.noteError("unexpected HTTP response");
    } else {
      auto req = std::move(queue_.front());
      queue_.pop_front();
      --sent_;
      if (req.done) req.done(status, body);
    }
    rx_.erase(0, total);
    if (closeAfter) {
      broken("publisher: server closed keep-alive");
      return;
    }
    sendMore();
  }
}

void Publisher::broken(const std::string& why) {
  b_.noteError(why);
  b_.loop().remove(fd_);
  ::close(fd_);
  fd_ = -1;
  rx_.clear();
  tx_.clear();
  txOff_ = 0;
  wantWrite_ = false;
  // Requests already written may or may not have been applied: report them as failed.
  for (; sent_ > 0; --sent_) {
    auto req = std::move(queue_.front());
    queue_.pop_front();
    if (req.done) req.done(0, {});
  }
  if (connect()) {
    sendMore();
    return;
  }
  while (!queue_.empty()) {
    auto req = std::move(queue_.front());
    queue_.pop_front();
    if (req.done) req.done(0, {});
  }
}

// ---------------------------------------------------------------------------------
// Peer protocols

std::string Bench::upgradeRequest(const Subscriber& s) const {
  std::string path;
  const auto& g = groups_[s.group()].name;
  switch (opt_.peer) {
    case Peer::HeraldJson:
    case Peer::HeraldMsgpack: path = "/hubs/job-progress"; break;
    case Peer::Nchan: path = "/sub/" + g; break;
    case Peer::SocketIo: path = "/socket.io/?EIO=4&transport=websocket"; break;
    case Peer::Ws: path = "/g/" + g; break;
  }
  return "GET " + path + " HTTP/1.1\r\nHost: " + opt_.host + ":" + std::to_string(opt_.port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         (opt_.bearer.empty() ? std::string() : "Authorization: Bearer " + opt_.bearer + "\r\n") +
         "\r\n";
}

void Bench::onUpgraded(Subscriber& s) {
  switch (opt_.peer) {
    case Peer::HeraldJson:
      s.setState(SubState::Handshaking);
      s.sendFrame(0x1, "{\"protocol\":\"json\",\"version\":1}\x1e");
      break;
    case Peer::HeraldMsgpack:
      s.setState(SubState::Handshaking);
      s.sendFrame(0x1, "{\"protocol\":\"messagepack\",\"version\":1}\x1e");
      break;
    case Peer::SocketIo: s.setState(SubState::Joining); break;  // waits for the open packet
    case Peer::Nchan:
    case Peer::Ws: markReady(s); break;  // the URL is the subscription
  }
}

void Bench::markReady(Subscriber& s) {
  s.setState(SubState::Ready);
  auto& g = groups_[s.group()];
  ++g.ready;
  s.highest = g.seq;  // deliveries owed start after what the group has seen so far
  s.missing.clear();
  ++ready_;
  --inProgress_;
  s.nextPingNs = nowNs() + static_cast<std::int64_t>(opt_.clientPingSeconds * 1e9 *
                                                     (0.2 + 0.8 * double(s.id() % 1000) / 1000.0));
  startMore();
}

void Bench::onSubscriberFailed(Subscriber& s, SubState was, const std::string& reason) {
  noteError(reason);
  if (was == SubState::Ready) {
    --groups_[s.group()].ready;
    --ready_;
    ++step_->disconnects;
    ++total_.disconnects;
  } else {
    --inProgress_;  // counted when it was started
    ++connectFailures_;
    startMore();
  }
}

void Bench::startMore() {
  while (inProgress_ < opt_.connectConcurrency && nextToStart_ < subs_.size()) {
    ++inProgress_;
    subs_[nextToStart_++]->start();
  }
}

void Bench::onMessage(Subscriber& s, const char* p, std::size_t n, bool binary, std::int64_t now) {
  switch (opt_.peer) {
    case Peer::HeraldJson: heraldJson(s, p, n, now); break;
    case Peer::HeraldMsgpack: heraldMsgpack(s, p, n, now); break;
    case Peer::SocketIo: socketIo(s, std::string_view(p, n), now); break;
    case Peer::Nchan:
    case Peer::Ws:
      if (s.state() == SubState::Ready && n > 0) {
        ++step_->framesReceived;
        deliverJson(s, std::string_view(p, n), now);
      }
      break;
  }
  (void)binary;
}

static const std::string kJsonPing = "{\"type\":6}\x1e";
static const std::string kMsgpackPing = std::string("\x02\x91\x06", 3);

// SignalR JSON: records end with 0x1E; one WebSocket message may hold several.
void Bench::heraldJson(Subscriber& s, const char* p, std::size_t n, std::int64_t now) {
  std::string_view all(p, n);
  bool counted = false;
  while (!all.empty()) {
    auto end = all.find('\x1e');
    if (end == std::string_view::npos) {
      noteError("SignalR JSON message without record separator");
      return;
    }
    auto rec = all.substr(0, end);
    all.remove_prefix(end + 1);
    if (s.state() == SubState::Handshaking) {
      if (rec != "{}") {
        s.fail("handshake refused: " + std::string(rec.substr(0, 100)));
        return;
      }
      s.setState(SubState::Subscribing);
      s.sendFrame(0x1, kJsonPing + "{\"type\":1,\"target\":\"SubscribeToJob\",\"arguments\":[\"" +
                           groups_[s.group()].name + "\"]}\x1e");
      continue;
    }
    std::int64_t type = 0;
    findInt(rec, "\"type\":", type);
    if (type == 6) {
      ++s.serverPings;
      ++step_->serverPings;
    } else if (type == 1 &&
               rec.find("\"target\":\"JobProgressUpdate\"") != std::string_view::npos) {
      if (s.state() == SubState::Subscribing) {
        markReady(s);  // the snapshot answers the subscription
      } else if (s.state() == SubState::Ready) {
        if (!counted) {
          ++step_->framesReceived;
          counted = true;
        }
        deliverJson(s, rec, now);
      }
    } else if (type == 7) {
      s.fail("SignalR close: " + std::string(rec.substr(0, 120)));
      return;
    }
  }
}

// SignalR MessagePack: VarInt(length) || array, several per WebSocket message.
void Bench::heraldMsgpack(Subscriber& s, const char* p, std::size_t n, std::int64_t now) {
  if (s.state() == SubState::Handshaking) {
    std::string_view all(p, n);
    auto end = all.find('\x1e');
    if (end == std::string_view::npos || all.substr(0, end) != "{}") {
      s.fail("handshake refused: " + std::string(all.substr(0, 100)));
      return;
    }
    s.setState(SubState::Subscribing);
    // [1, {}, nil, "SubscribeToJob", [jobId], []]
    const auto& job = groups_[s.group()].name;
    std::string body;
    body += '\x96';
    body += '\x01';
    body += '\x80';
    body += '\xc0';
    body += '\xae';
    body += "SubscribeToJob";
    body += '\x91';
    if (job.size() < 32) {
      body += static_cast<char>(0xa0 | job.size());
    } else {
      body += '\xd9';
      body += static_cast<char>(job.size());
    }
    body += job;
    body += '\x90';
    std::string framed = kMsgpackPing;
    framed += static_cast<char>(body.size());  // < 128 bytes: one varint byte
    framed += body;
    s.sendFrame(0x2, framed);
    p += end + 1;
    n -= end + 1;
    if (n == 0) return;
  }
  const auto* b = reinterpret_cast<const std::uint8_t*>(p);
  std::size_t off = 0;
  bool counted = false;
  while (off < n) {
    std::uint64_t len = 0;
    int shift = 0;
    while (true) {
      if (off >= n || shift > 28) {
        noteError("bad MessagePack length prefix");
        return;
      }
      std::uint8_t c = b[off++];
      len |= std::uint64_t(c & 0x7f) << shift;
      shift += 7;
      if (!(c & 0x80)) break;
    }
    if (off + len > n) {
      noteError("truncated MessagePack message");
      return;
    }
    MpReader r(b + off, len);
    off += len;
    std::uint32_t count = 0;
    std::int64_t type = 0;
    if (!r.array(count) || count < 1 || !r.integer(type)) {
      noteError("bad MessagePack message");
      continue;
    }
    if (type == 6) {
      ++s.serverPings;
      ++step_->serverPings;
      continue;
    }
    if (type == 7) {
      s.fail("SignalR close (messagepack)");
      return;
    }
    if (type != 1 || count < 5) continue;
    std::string_view target;
    std::uint32_t args = 0, fields = 0;
    if (!r.skip() || !r.skip() || !r.str(target)) continue;
    if (target != "JobProgressUpdate") continue;
    if (s.state() == SubState::Subscribing) {
      markReady(s);
      continue;
    }
    if (s.state() != SubState::Ready) continue;
    if (!r.array(args) || args < 1 || !r.map(fields)) {
      noteError("bad JobProgressUpdate arguments");
      continue;
    }
    std::int64_t t = -1, seq = -1;
    for (std::uint32_t i = 0; i < fields && r.ok(); ++i) {
      std::string_view key;
      if (!r.str(key)) break;
      if (key == "metadata") {
        std::uint32_t m = 0;
        if (!r.map(m)) break;
        for (std::uint32_t j = 0; j < m && r.ok(); ++j) {
          std::string_view k2;
          if (!r.str(k2)) break;
          if (k2 == "t")
            r.integer(t);
          else if (k2 == "seq")
            r.integer(seq);
          else
            r.skip();
        }
      } else {
        r.skip();
      }
    }
    if (!counted) {
      ++step_->framesReceived;
      counted = true;
    }
    if (seq > 0 && t >= 0)
      deliver(s, seq, t, now);
    else
      noteError("JobProgressUpdate without metadata.t/seq");
  }
}

// Engine.IO 4 / Socket.IO 5 protocol over a WebSocket: "0{...}" open, "40" namespace
// connect, "2"/"3" ping/pong, "42[...]" events.
void Bench::socketIo(Subscriber& s, std::string_view text, std::int64_t now) {
  if (text == "2") {
    s.sendFrame(0x1, "3");
    ++s.serverPings;
    ++step_->serverPings;
    return;
  }
  if (text.size() >= 1 && text[0] == '0' && (text.size() < 2 || text[1] == '{')) {
    s.sendFrame(0x1, "40");
    return;
  }
  if (text.substr(0, 2) == "40") {
    s.setState(SubState::Subscribing);
    s.sendFrame(0x1, "42[\"join\",\"" + groups_[s.group()].name + "\"]");
    return;
  }
  if (text.substr(0, 2) == "42") {
    if (text.substr(0, 12) == "42[\"joined\",") {
      if (s.state() == SubState::Subscribing) markReady(s);
      return;
    }
    if (s.state() == SubState::Ready) {
      ++step_->framesReceived;
      deliverJson(s, text, now);
    }
    return;
  }
  if (text.substr(0, 2) == "41" || text.substr(0, 2) == "44" || text == "1") {
    s.fail("socket.io disconnect: " + std::string(text.substr(0, 80)));
  }
}

void Bench::deliverJson(Subscriber& s, std::string_view text, std::int64_t now) {
  auto m = text.find("\"metadata\":{");
  std::int64_t t = -1, seq = -1;
  if (m == std::string_view::npos || !findInt(text, "\"t\":", t, m) ||
      !findInt(text, "\"seq\":", seq, m)) {
    noteError("delivery without metadata.t/seq");
    return;
  }
  deliver(s, seq, t, now);
}

void Bench::deliver(Subscriber& s, std::int64_t seq, std::int64_t t, std::int64_t now) {
  lastDeliveryNs_ = now;
  auto& st = *step_;
  if (seq == s.highest + 1) {
    s.highest = seq;
  } else if (seq > s.highest + 1) {
    ++st.gaps;
    ++total_.gaps;
    if (seq - s.highest > 1'000'000) {
      noteError("sequence jump over 1,000,000");
      return;
    }
    for (std::int64_t k = s.highest + 1; k < seq; ++k) s.missing.push_back(k);
    s.highest = seq;
  } else {
    auto it = std::find(s.missing.begin(), s.missing.end(), seq);
    if (it == s.missing.end()) {
      ++st.duplicates;
      ++total_.duplicates;
      return;
    }
    s.missing.erase(it);
    ++st.reorders;
    ++total_.reorders;
  }
  ++st.unique;
  st.latency.record(now - t);
  if (st.timelineStart) {
    auto slot = static_cast<std::size_t>((now - st.timelineStart) / (100 * kMs));
    if (slot < 100000) {
      if (st.timelineMax.size() <= slot) st.timelineMax.resize(slot + 1, 0);
      st.timelineMax[slot] = std::max(st.timelineMax[slot], now - t);
    }
  }
}

// ---------------------------------------------------------------------------------
// Publishing

std::string Bench::httpPost(const std::string& path, const std::string& body) const {
  std::string r;
  r.reserve(body.size() + 160);
  r += "POST ";
  r += path;
  r += " HTTP/1.1\r\nHost: ";
  r += opt_.host;
  if (!opt_.bearer.empty()) {
    r += "\r\nAuthorization: Bearer ";
    r += opt_.bearer;
  }
  r += "\r\nContent-Type: application/json\r\nContent-Length: ";
  r += std::to_string(body.size());
  r += "\r\n\r\n";
  r += body;
  return r;
}

// The same ~300-byte progress object for every peer. Herald builds its JobProgressUpdate
// from the report (jobId, status, progress, stage, message, metadata, sequence, ...);
// the other peers get an object of the same shape and size from the publisher directly.
static std::string progressBody(bool herald, const std::string& name, std::int64_t seq,
                                std::int64_t t, const std::string& padding) {
  char num[64];
  std::string body;
  body.reserve(padding.size() + 300);
  auto meta = [&] {
    body += "\"metadata\":{\"t\":";
    body.append(num, std::to_chars(num, num + sizeof num, t).ptr);
    body += ",\"seq\":";
    body.append(num, std::to_chars(num, num + sizeof num, seq).ptr);
    body += '}';
  };
  if (herald) {
    body += "{\"progress\":";
    body += std::to_string(seq % 100);
    body += ",\"currentStage\":\"Transcribing audio\",\"statusMessage\":\"";
    body += padding;
    body += "\",";
    meta();
    body += '}';
    return body;
  }
  body += "{\"jobId\":\"";
  body += name;
  body += "\",\"videoId\":null,\"jobType\":\"Bench\",\"status\":\"Running\",\"progress\":";
  body += std::to_string(seq % 100);
  body += ",\"currentStage\":\"Transcribing audio\",\"statusMessage\":\"";
  body += padding;
  body += "\",\"errorMessage\":null,\"updatedAt\":\"2025-01-01T00:00:00.000Z\",";
  meta();
  body += ",\"sequence\":";
  body += std::to_string(seq);
  body += '}';
  return body;
}

std::string Bench::publishRequest(const Group& g, std::int64_t seq, std::int64_t t) const {
  auto body = progressBody(isHerald(opt_.peer), g.name, seq, t, padding_);
  if (isHerald(opt_.peer)) return httpPost("/api/v1/jobs/" + g.name + "/progress", body);
  if (opt_.peer == Peer::Nchan) return httpPost("/pub?id=" + g.name, body);
  return httpPost("/publish/" + g.name, body);
}

void Bench::publishOne(std::int64_t scheduledNs) {
  auto gi = static_cast<std::size_t>(publishCounter_++ % groups_.size());
  auto& g = groups_[gi];
  auto seq = ++g.seq;
  auto& st = *step_;
  ++st.published;
  st.expected += static_cast<std::uint64_t>(g.ready);
  ++pendingRequests_;
  StepStats* target = step_;
  const std::uint64_t targetId = stepId_;
  pubs_[gi % pubs_.size()]->enqueue(
      HttpRequest{publishRequest(g, seq, scheduledNs),
                  [this, target, targetId, scheduledNs](int status, std::string_view body) {
                    --pendingRequests_;
                    // A late answer (its step is over) only counts in the totals.
                    StepStats* live = targetId == stepId_ ? target : nullptr;
                    if (live) live->publishAck.record(nowNs() - scheduledNs);
                    if (status / 100 != 2) {
                      if (live) ++live->publishErrors;
                      ++total_.publishErrors;
                      noteError("publish answered " + std::to_string(status) + ": " +
                                std::string(body.substr(0, 120)));
                    }
                  }});
}

void Bench::pumpSchedule(std::int64_t now) {
  while (schedActive_) {
    auto due = schedStart_ + static_cast<std::int64_t>(double(schedK_) * schedInterval_);
    if (due >= schedEnd_) {
      schedActive_ = false;
      break;
    }
    if (due > now) break;
    publishOne(due);
    ++schedK_;
  }
}

void Bench::periodic(std::int64_t now) {
  if (now < nextTick_) return;
  nextTick_ = now + 20 * kMs;
  startMore();  // connection ramp
  // SignalR client pings (the server drops a client that stays silent for its
  // ClientTimeoutInterval once it has seen a first ping).
  if (isHerald(opt_.peer)) {
    auto interval = static_cast<std::int64_t>(opt_.clientPingSeconds * 1e9);
    for (auto& s : subs_) {
      if (s->state() == SubState::Ready && s->nextPingNs <= now) {
        s->nextPingNs = now + interval;
        if (opt_.peer == Peer::HeraldJson)
          s->sendFrame(0x1, kJsonPing);
        else
          s->sendFrame(0x2, kMsgpackPing);
      }
    }
  }
}

void Bench::runUntil(const std::function<bool()>& done, std::int64_t deadline) {
  for (;;) {
    auto now = nowNs();
    pumpSchedule(now);
    periodic(now);
    if (done() || now >= deadline) return;
    auto wake = std::min(deadline, nextTick_);
    if (schedActive_) {
      wake =
          std::min(wake, schedStart_ + static_cast<std::int64_t>(double(schedK_) * schedInterval_));
    }
    loop_.poll(wake);
  }
}

// ---------------------------------------------------------------------------------
// Phases

void Bench::setUpGroups(int count, const std::string& prefix) {
  groups_.assign(static_cast<std::size_t>(count), Group{});
  if (!isHerald(opt_.peer)) {
    for (int i = 0; i < count; ++i) {
      // 36 characters, like a Herald jobId, so payloads have the same size.
      std::string digits = std::to_string(i);
      std::string name = prefix + "-";
      if (name.size() + digits.size() < 36) name.append(36 - name.size() - digits.size(), '0');
      groups_[static_cast<std::size_t>(i)].name = name + digits;
    }
    return;
  }
  // Herald: one job per group; the job's SignalR group is job-{jobId}.
  int pending = 0, failed = 0;
  for (int i = 0; i < count; ++i) {
    ++pending;
    auto* g = &groups_[static_cast<std::size_t>(i)];
    pubs_[static_cast<std::size_t>(i) % pubs_.size()]->enqueue(
        HttpRequest{httpPost("/api/v1/jobs", "{\"jobType\":\"Bench\"}"),
                    [g, &pending, &failed](int status, std::string_view body) {
                      --pending;
                      auto p = body.find("\"jobId\":\"");
                      if (status / 100 != 2 || p == std::string_view::npos) {
                        ++failed;
                        return;
                      }
                      p += 9;
                      g->name = std::string(body.substr(p, body.find('"', p) - p));
                    }});
  }
  runUntil([&] { return pending == 0; }, nowNs() + 60 * kSec);
  if (pending || failed) {
    throw std::runtime_error("creating jobs failed (" + std::to_string(failed) + " failed, " +
                             std::to_string(pending) + " unanswered)");
  }
}

bool Bench::connectAll() {
  subs_.clear();
  ready_ = inProgress_ = connectFailures_ = 0;
  nextToStart_ = 0;
  subs_.reserve(static_cast<std::size_t>(opt_.connections));
  for (int i = 0; i < opt_.connections; ++i) {
    subs_.push_back(std::make_unique<Subscriber>(*this, i, i / opt_.groupSize));
  }
  auto t0 = nowNs();
  nextTick_ = 0;
  runUntil([&] { return ready_ + connectFailures_ >= opt_.connections; },
           t0 + static_cast<std::int64_t>(opt_.connectTimeoutSeconds * 1e9));
  log("connected " + std::to_string(ready_) + "/" + std::to_string(opt_.connections) + " in " +
      std::to_string(double(nowNs() - t0) / 1e9) + " s (" + std::to_string(connectFailures_) +
      " failed)");
  return ready_ == opt_.connections;
}

json::object Bench::idleMemory(const ServerSample& before) {
  auto idleStart = probe_.sample();
  auto t0 = nowNs();
  runUntil([] { return false; }, t0 + static_cast<std::int64_t>(opt_.idleSeconds * 1e9));
  auto after = probe_.sample();
  double seconds = double(nowNs() - t0) / 1e9;
  json::object o;
  o["connections"] = ready_;
  o["rssBeforeBytes"] = before.rssBytes;
  o["rssAfterBytes"] = after.rssBytes;
  o["bytesPerConnection"] =
      ready_ ? double(after.rssBytes - before.rssBytes) / double(ready_) : 0.0;
  // What idle connections cost in CPU (keep-alive timers, pings).
  o["idleSeconds"] = seconds;
  o["idleServerCpuPercent"] = 100.0 * (after.cpuSeconds - idleStart.cpuSeconds) / seconds;
  o["idleServerWrites"] = after.sockWrites - idleStart.sockWrites;
  return o;
}

static double ms(std::int64_t ns) { return double(ns) / 1e6; }

json::object Bench::runStep(const std::string& label, double deliveriesPerSec, double seconds) {
  StepStats st;
  if (opt_.phase == "hold") st.timelineStart = nowNs();
  setStep(&st);
  double avgGroup = groups_.empty() ? 0 : double(ready_) / double(groups_.size());
  double publishRate = avgGroup > 0 ? deliveriesPerSec / avgGroup : 0;
  auto s0 = probe_.sample();
  auto g0 = selfCpuSeconds();
  auto k0 = selfSystemSeconds();
  auto w0 = selfRunDelaySeconds();
  double busyS0 = opt_.serverCpu >= 0 ? cpuBusySeconds(opt_.serverCpu) : 0;
  double busyG0 = opt_.generatorCpu >= 0 ? cpuBusySeconds(opt_.generatorCpu) : 0;
  auto t0 = nowNs();
  schedStart_ = t0 + 5 * kMs;
  schedEnd_ = schedStart_ + static_cast<std::int64_t>(seconds * 1e9);
  schedInterval_ = publishRate > 0 ? 1e9 / publishRate : 1e18;
  schedK_ = 0;
  schedActive_ = publishRate > 0;
  runUntil([&] { return !schedActive_; }, schedEnd_ + kSec);
  auto g1 = selfCpuSeconds();
  auto t1 = nowNs();
  runUntil([&] { return pendingRequests_ == 0 && st.unique >= st.expected; },
           t1 + static_cast<std::int64_t>(opt_.drainSeconds * 1e9));
  auto t2 = nowNs();
  auto g2 = selfCpuSeconds();
  auto s1 = probe_.sample();
  setStep(&scratchStats_);

  json::object o;
  o["label"] = label;
  o["groupSize"] = opt_.groupSize;
  o["targetDeliveriesPerSec"] = deliveriesPerSec;
  o["publishesPerSec"] = publishRate;
  o["seconds"] = seconds;
  o["published"] = st.published;
  o["publishErrors"] = st.publishErrors;
  o["expected"] = st.expected;
  o["delivered"] = st.unique;
  o["undelivered"] = st.expected > st.unique ? st.expected - st.unique : 0;
  o["achievedDeliveriesPerSec"] = double(st.unique) / seconds;
  o["p50Ms"] = ms(st.latency.quantile(0.50));
  o["p90Ms"] = ms(st.latency.quantile(0.90));
  o["p99Ms"] = ms(st.latency.quantile(0.99));
  o["p999Ms"] = ms(st.latency.quantile(0.999));
  o["maxMs"] = ms(st.latency.max());
  o["meanMs"] = st.latency.mean() / 1e6;
  o["publishAckP50Ms"] = ms(st.publishAck.quantile(0.50));
  o["publishAckP99Ms"] = ms(st.publishAck.quantile(0.99));
  o["duplicates"] = st.duplicates;
  o["reorders"] = st.reorders;
  o["gaps"] = st.gaps;
  o["disconnects"] = st.disconnects;
  o["serverPings"] = st.serverPings;
  o["framesReceived"] = st.framesReceived;
  o["drainSeconds"] = double(t2 - t1) / 1e9;
  double cpu = s1.cpuSeconds - s0.cpuSeconds;
  o["serverCpuSeconds"] = cpu;
  o["serverCpuSecondsTicks"] = s1.cpuSecondsTicks - s0.cpuSecondsTicks;
  {
    double ticks = s1.cpuSecondsTicks - s0.cpuSecondsTicks;
    // Kernel share (syscalls, TCP over loopback, including the receive path the kernel
    // runs in the sender's context) vs user space, from utime/stime.
    o["serverSystemShare"] = ticks > 0 ? (s1.systemSeconds - s0.systemSeconds) / ticks : 0.0;
  }
  // Contention: time the server / the generator sat runnable while something else
  // (other work on the machine) had their core.
  o["serverRunDelayMs"] = (s1.runDelaySeconds - s0.runDelaySeconds) * 1e3;
  o["windowMs"] = double(t2 - t0) / 1e6;
  // Other work on our cores during the step (busy time minus the server's / our CPU).
  if (opt_.serverCpu >= 0) {
    o["otherCpuOnServerCoreMs"] =
        std::max(0.0, (cpuBusySeconds(opt_.serverCpu) - busyS0 - cpu) * 1e3);
  }
  if (opt_.generatorCpu >= 0) {
    o["otherCpuOnGeneratorCoreMs"] =
        std::max(0.0, (cpuBusySeconds(opt_.generatorCpu) - busyG0 - (g2 - g0)) * 1e3);
  }
  o["generatorRunDelayMs"] = (selfRunDelaySeconds() - w0) * 1e3;
  // Busy share of the time from the first publish to the last delivery (the drain wait
  // after the last delivery would dilute it).
  auto busyEnd = std::max(t1, std::min(t2, lastDeliveryNs_));
  o["serverCpuPercent"] = 100.0 * cpu / (double(busyEnd - schedStart_) / 1e9);
  o["serverCpuUsPerDelivery"] = st.unique ? cpu * 1e6 / double(st.unique) : 0.0;
  if (s1.haveShim) {
    auto w = s1.sockWrites - s0.sockWrites;
    o["serverSocketWrites"] = w;
    o["writesPerDelivery"] = st.unique ? double(w) / double(st.unique) : 0.0;
    o["serverSocketBytes"] = s1.sockWriteBytes - s0.sockWriteBytes;
  }
  o["syscwPerDelivery"] = st.unique ? double(s1.syscw - s0.syscw) / double(st.unique) : 0.0;
  o["serverRssBytes"] = s1.rssBytes;
  double genPct = 100.0 * (g1 - g0) / (double(t1 - t0) / 1e9);
  auto w1 = selfRunDelaySeconds();
  // Running or waiting to run: a generator that was starved by other work on its core
  // is as unable to keep up as a saturated one.
  double genBusyPct = 100.0 * ((g1 - g0) + (w1 - w0)) / (double(t1 - t0) / 1e9);
  o["generatorCpuPercent"] = genPct;
  o["generatorBusyPercent"] = genBusyPct;
  o["generatorCpuPercentWithDrain"] = 100.0 * (g2 - g0) / (double(t2 - t0) / 1e9);
  o["generatorCpuUsPerDelivery"] = st.unique ? (g2 - g0) * 1e6 / double(st.unique) : 0.0;
  o["generatorSystemShare"] = g2 > g0 ? (selfSystemSeconds() - k0) / (g2 - g0) : 0.0;

  bool clean = st.unique >= st.expected && st.duplicates == 0 && st.reorders == 0 &&
               st.disconnects == 0 && st.publishErrors == 0 && pendingRequests_ == 0;
  bool fast = ms(st.latency.quantile(0.99)) <= opt_.p99LimitMs;
  bool genBound = genBusyPct >= opt_.genCpuLimit * 100.0;
  o["pass"] = clean && fast && st.unique > 0;
  o["generatorBound"] = genBound;
  std::string reason;
  if (st.unique == 0)
    reason = "nothing delivered";
  else if (!fast)
    reason = "p99 over limit";
  else if (st.unique < st.expected)
    reason = "undelivered at drain deadline";
  else if (st.duplicates || st.reorders)
    reason = "duplicates/reorders";
  else if (st.disconnects)
    reason = "disconnects";
  else if (st.publishErrors || pendingRequests_)
    reason = "publish errors/backlog";
  o["failReason"] = reason;
  if (!st.timelineMax.empty()) {
    json::array tl;
    for (auto v : st.timelineMax) tl.push_back(std::round(ms(v) * 10) / 10);
    o["worstLatencyPer100msMs"] = tl;
  }
  char line[400];
  std::snprintf(
      line, sizeof line,
      "%-6s %8.0f/s -> %8.0f/s p50 %7.2f p99 %8.2f p99.9 %8.2f ms | cpu %5.2f us/dlv "
      "(%3.0f%%) | writes/dlv %.2f | gen %3.0f%% | undeliv %llu dup %llu reord %llu%s",
      label.c_str(), deliveriesPerSec, double(st.unique) / seconds, ms(st.latency.quantile(0.5)),
      ms(st.latency.quantile(0.99)), ms(st.latency.quantile(0.999)),
      st.unique ? cpu * 1e6 / double(st.unique) : 0.0,
      100.0 * cpu / (double(busyEnd - schedStart_) / 1e9),
      s1.haveShim && st.unique ? double(s1.sockWrites - s0.sockWrites) / double(st.unique) : -1.0,
      genPct,
      static_cast<unsigned long long>(st.expected > st.unique ? st.expected - st.unique : 0),
      static_cast<unsigned long long>(st.duplicates), static_cast<unsigned long long>(st.reorders),
      reason.empty() ? "" : (" FAIL: " + reason).c_str());
  log(line);
  return o;
}

// Deliveries still owed to connected subscribers (published, not yet received).
std::uint64_t Bench::owed() const {
  std::uint64_t n = 0;
  for (const auto& s : subs_) {
    if (s->state() != SubState::Ready) continue;
    n += static_cast<std::uint64_t>(groups_[s->group()].seq - s->highest) + s->missing.size();
  }
  return n;
}

// Lets a backlog drain (up to `seconds`) before the next measurement.
void Bench::settle(double seconds) {
  StepStats st;
  setStep(&st);
  runUntil([&] { return pendingRequests_ == 0 && owed() == 0; },
           nowNs() + static_cast<std::int64_t>(seconds * 1e9));
  runUntil([] { return false; }, nowNs() + 500 * kMs);
  setStep(&scratchStats_);
}

// After the ladder: wait for stragglers, then count what never arrived.
json::object Bench::finalDrain() {
  StepStats st;
  setStep(&st);
  auto before = owed();
  auto t0 = nowNs();
  if (before > 0) {
    runUntil([&] { return pendingRequests_ == 0 && owed() == 0; },
             t0 + static_cast<std::int64_t>(opt_.finalDrainSeconds * 1e9));
  }
  setStep(&scratchStats_);
  json::object o;
  o["owedAtStart"] = before;
  o["lateArrivals"] = st.unique;
  o["lost"] = owed();
  o["duplicates"] = st.duplicates;
  o["seconds"] = double(nowNs() - t0) / 1e9;
  o["lateP50Ms"] = ms(st.latency.quantile(0.5));
  o["lateMaxMs"] = ms(st.latency.max());
  return o;
}

int Bench::run() {
  signal(SIGPIPE, SIG_IGN);
  json::object result;
  result["peer"] = opt_.label.empty() ? opt_.peerName : opt_.label;
  result["phase"] = opt_.phase;
  result["tag"] = opt_.tag;
  result["connections"] = opt_.connections;
  result["groupSize"] = opt_.groupSize;
  result["payloadBytes"] = opt_.payloadBytes;
  json::array pids;
  for (int p : probe_.pids()) pids.push_back(p);
  result["serverPids"] = pids;

  // statusMessage padding so the delivered progress object is ~payloadBytes long (for
  // Herald, the object the server builds has the same fields as the peers' object).
  {
    auto bare = progressBody(false, std::string(36, 'x'), 1234, 12345678901, "");
    padding_.assign(
        bare.size() < std::size_t(opt_.payloadBytes) ? opt_.payloadBytes - bare.size() : 0, 'x');
  }

  pubs_.clear();
  for (int i = 0; i < opt_.publishers; ++i) {
    pubs_.push_back(std::make_unique<Publisher>(*this, i));
    if (!pubs_.back()->connect()) throw std::runtime_error("cannot connect to the server");
  }
  int groupCount = (opt_.connections + opt_.groupSize - 1) / opt_.groupSize;
  auto g0 = selfCpuSeconds();
  setUpGroups(groupCount, "bench-" + opt_.phase);
  runUntil([] { return false; }, nowNs() + 300 * kMs);
  auto before = probe_.sample();
  auto t0 = nowNs();
  bool allConnected = connectAll();
  result["connectSeconds"] = double(nowNs() - t0) / 1e9;
  result["connected"] = ready_;
  result["connectFailures"] = connectFailures_;
  result["generatorCpuSecondsSetup"] = selfCpuSeconds() - g0;
  result["idle"] = idleMemory(before);

  bool ok = allConnected;
  std::uint64_t deliveredTotal = 0;
  if (opt_.phase == "hold") {
    // Many connections with pings both ways; light publishing shows whether the server
    // stays responsive. Nothing may disconnect.
    auto step = runStep("hold", opt_.holdRate, opt_.holdSeconds);
    std::uint64_t minPings = ~0ULL, sumPings = 0;
    int alive = 0;
    for (auto& s : subs_) {
      if (s->state() != SubState::Ready) continue;
      ++alive;
      minPings = std::min(minPings, s->serverPings);
      sumPings += s->serverPings;
    }
    step["aliveAtEnd"] = alive;
    step["serverPingsMinPerConnection"] = alive ? minPings : 0;
    step["serverPingsMeanPerConnection"] = alive ? double(sumPings) / alive : 0.0;
    deliveredTotal += step["delivered"].as_uint64();
    ok = ok && step["pass"].as_bool() && alive == opt_.connections;
    result["hold"] = step;
  } else {
    if (opt_.lightRate > 0) {
      auto light = runStep("light", opt_.lightRate, opt_.lightSeconds);
      deliveredTotal += light["delivered"].as_uint64();
      ok = ok && light["pass"].as_bool();
      result["light"] = light;
    }
    json::array steps;
    double maxSustained = 0;
    bool generatorBound = false;
    std::string stopReason = "ladder exhausted";
    for (double rate : opt_.rates) {
      auto step = runStep("ladder", rate, opt_.stepSeconds);
      deliveredTotal += step["delivered"].as_uint64();
      // Contended: other work took a share of the server's or the generator's core.
      // (The server's own run delay does not count: Herald's I/O and store threads share
      // one core and wait for each other.)
      auto contended = [&](const json::object& st) {
        double window = st.at("windowMs").as_double();
        double other = st.at("generatorRunDelayMs").as_double();
        if (auto* p = st.if_contains("otherCpuOnServerCoreMs"))
          other = std::max(other, p->as_double());
        if (auto* p = st.if_contains("otherCpuOnGeneratorCoreMs"))
          other = std::max(other, p->as_double());
        return other > opt_.contendedShare * window;
      };
      if (!step["pass"].as_bool() && contended(step) && step["duplicates"].as_uint64() == 0 &&
          step["reorders"].as_uint64() == 0 && step["disconnects"].as_uint64() == 0) {
        // Other work on the machine took the core during this step: measure it again
        // once the backlog has drained, and keep both results.
        log("step at " + std::to_string(static_cast<long>(rate)) +
            "/s was contended: retrying once");
        settle(8);
        json::object first;
        for (const char* k :
             {"achievedDeliveriesPerSec", "p50Ms", "p99Ms", "p999Ms", "serverCpuUsPerDelivery",
              "serverRunDelayMs", "generatorRunDelayMs", "otherCpuOnServerCoreMs",
              "otherCpuOnGeneratorCoreMs", "failReason"}) {
          if (auto* v = step.if_contains(k)) first[k] = *v;
        }
        step = runStep("ladder (retry)", rate, opt_.stepSeconds);
        deliveredTotal += step["delivered"].as_uint64();
        step["firstAttempt"] = first;
      }
      bool pass = step["pass"].as_bool();
      bool genBound = step["generatorBound"].as_bool();
      steps.push_back(step);
      if (pass) maxSustained = std::max(maxSustained, step["achievedDeliveriesPerSec"].as_double());
      if (!pass) {
        stopReason = step["failReason"].as_string().c_str();
        break;
      }
      if (genBound) {
        generatorBound = true;
        stopReason = "generator saturated";
        break;
      }
    }
    result["steps"] = steps;
    result["maxSustainedDeliveriesPerSec"] = maxSustained;
    result["stopReason"] = stopReason;
    result["generatorBound"] = generatorBound;
  }
  auto drain = finalDrain();
  result["finalDrain"] = drain;
  json::object totals;
  totals["lost"] = drain["lost"];
  totals["duplicates"] = total_.duplicates;
  totals["reorders"] = total_.reorders;
  totals["disconnects"] = total_.disconnects;
  totals["publishErrors"] = total_.publishErrors;
  totals["delivered"] = deliveredTotal;
  result["totals"] = totals;
  json::object errs;
  for (auto& [k, v] : errors_) errs[k] = v;
  result["errors"] = errs;
  result["generatorCpuSecondsTotal"] = selfCpuSeconds();

  bool clean = drain["lost"].as_uint64() == 0 && total_.duplicates == 0 && total_.reorders == 0 &&
               total_.disconnects == 0 && deliveredTotal > 0;
  result["clean"] = clean;
  auto text = json::serialize(result);
  if (opt_.out.empty()) {
    std::cout << text << std::endl;
  } else {
    std::ofstream(opt_.out) << text << std::endl;
  }
  if (!errors_.empty()) {
    for (auto& [k, v] : errors_) log("error x" + std::to_string(v) + ": " + k);
  }
  if (opt_.strict && (!clean || !ok || total_.publishErrors)) {
    log("STRICT: failed (lost " + std::to_string(drain["lost"].as_uint64()) + ", dup " +
        std::to_string(total_.duplicates) + ", reorder " + std::to_string(total_.reorders) +
        ", disconnects " + std::to_string(total_.disconnects) + ", delivered " +
        std::to_string(deliveredTotal) + ")");
    return 1;
  }
  return 0;
}

}  // namespace loadgen

int main(int argc, char** argv) {
  try {
    auto opt = loadgen::parseOptions(argc, argv);
    // Thousands of sockets: lift the soft descriptor limit to the hard one.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    loadgen::Bench bench(std::move(opt));
    return bench.run();
  } catch (const std::exception& e) {
    std::cerr << "herald-loadgen: " << e.what() << std::endl;
    return 2;
  }
}
