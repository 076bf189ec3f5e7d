// The Redis session mirror against a real redis-server (started here on a free port; the
// tests skip when Debian's redis-server is not installed): a session written by one node
// is adopted whole by another, the adoption fences the old owner, Acks trim the frames,
// and a session that ended cannot be adopted.
#include <gtest/gtest.h>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "cluster/redis_session_mirror.h"

extern char** environ;

using namespace herald;
using namespace herald::hub;
using cluster::RedisSessionMirror;

namespace {

class RedisServer {
 public:
  RedisServer() {
    if (!std::filesystem::exists("/usr/bin/redis-server")) return;
    // A free port: bind port 0, read it, release it (redis binds it a moment later).
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::address_v4::loopback(), 0});
    port_ = a.local_endpoint().port();
    a.close();
    auto port = std::to_string(port_);
    std::vector<std::string> args = {"redis-server", "--port",     port,     "--bind",
                                     "127.0.0.1",    "--save",     "",       "--appendonly",
                                     "no",           "--loglevel", "warning"};
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, "/usr/bin/redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = 0;
      return;
    }
    // Ready when it accepts connections.
    for (int i = 0; i < 200; ++i) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket s(io);
      s.connect({boost::asio::ip::address_v4::loopback(), port_}, ec);
      if (!ec) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~RedisServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool running() const { return pid_ > 0; }
  unsigned short port() const { return port_; }

 private:
  pid_t pid_ = 0;
  unsigned short port_ = 0;
};

RedisSessionMirror::Options options(unsigned short port, std::string node) {
  RedisSessionMirror::Options o;
  o.address.host = "127.0.0.1";
  o.address.port = port;
  o.nodeId = std::move(node);
  o.ttl = std::chrono::seconds(30);
  return o;
}

MirroredFrame frame(std::int64_t seq, std::string job, std::int64_t jobSeq) {
  return MirroredFrame{seq, std::move(job), jobSeq,
                       std::make_shared<const Frame>("frame-" + std::to_string(seq) + "\x1e")};
}

MirrorWrite appendAndWait(RedisSessionMirror& m, const MirrorSessionPtr& s,
                          std::vector<MirroredFrame> frames, std::int64_t total) {
  std::promise<MirrorWrite> p;
  m.append(s, std::move(frames), total, [&p](MirrorWrite r) { p.set_value(r); });
  return p.get_future().get();
}

std::optional<SessionMirror::Adopted> adoptAndWait(RedisSessionMirror& m,
                                                   const std::string& token) {
  std::promise<std::optional<SessionMirror::Adopted>> p;
  m.adopt(token, [&p](std::optional<SessionMirror::Adopted> a) { p.set_value(std::move(a)); });
  return p.get_future().get();
}

SessionState initial() {
  SessionState s;
  s.connectionId = "conn-7";
  s.protocol = "json";
  s.principal.userId = "alice";
  s.principal.authenticated = true;
  return s;
}

}  // namespace

class RedisSessionMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!redis_.running()) GTEST_SKIP() << "redis-server is not installed";
  }
  RedisServer redis_;
};

TEST_F(RedisSessionMirrorTest, AnotherNodeAdoptsTheWholeSessionAndFencesTheOldOwner) {
  RedisSessionMirror a(options(redis_.port(), "node-a"));
  RedisSessionMirror b(options(redis_.port(), "node-b"));
  a.start();
  b.start();
  const std::string token = "token-of-the-client";
  auto session = a.open(token, initial());
  a.joined(session, "user-alice");
  a.joined(session, "job-j1");
  ASSERT_EQ(appendAndWait(a, session, {frame(1, "j1", 10), frame(2, "", 0)}, 2),
            MirrorWrite::Stored);
  ASSERT_EQ(appendAndWait(a, session, {frame(3, "j1", 11)}, 3), MirrorWrite::Stored);
  a.acknowledge(session, 1);
  a.left(session, "user-alice");
  a.joined(session, "user-alice");
  ASSERT_EQ(appendAndWait(a, session, {}, 3), MirrorWrite::Stored);  // after the Ack

  auto adopted = adoptAndWait(b, token);
  ASSERT_TRUE(adopted);
  const auto& s = adopted->state;
  EXPECT_EQ(s.connectionId, "conn-7");
  EXPECT_EQ(s.protocol, "json");
  EXPECT_EQ(s.principal.userId, "alice");
  EXPECT_EQ(s.totalSent, 3);
  EXPECT_EQ(s.groups, (std::set<std::string>{"job-j1", "user-alice"}));
  EXPECT_EQ(s.jobMarks, (std::map<std::string, std::int64_t>{{"j1", 11}}));
  ASSERT_EQ(s.frames.size(), 2U);  // frame 1 was acknowledged
  EXPECT_EQ(s.frames[0].sequence, 2);
  EXPECT_EQ(*s.frames[0].bytes, "frame-2\x1e");
  EXPECT_EQ(s.frames[1].sequence, 3);
  EXPECT_EQ(s.frames[1].jobId, "j1");
  EXPECT_EQ(adopted->session->epoch, 2);

  // The old owner learns it lost the session, by writing or by asking.
  {
    std::promise<MirrorWrite> p;
    a.verify(session, [&p](MirrorWrite r) { p.set_value(r); });
    EXPECT_EQ(p.get_future().get(), MirrorWrite::Fenced);
  }
  // The old owner's next write is refused: it must not write those frames.
  EXPECT_EQ(appendAndWait(a, session, {frame(4, "j1", 12)}, 4), MirrorWrite::Fenced);
  // Its end does not remove what the new owner holds.
  a.close(session);
  EXPECT_EQ(appendAndWait(b, adopted->session, {frame(4, "j1", 12)}, 4), MirrorWrite::Stored);

  // Adopted again (the client moved on once more): the frames the second owner wrote too.
  auto again = adoptAndWait(a, token);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->state.frames.size(), 3U);
  EXPECT_EQ(again->session->epoch, 3);
  EXPECT_EQ(appendAndWait(b, adopted->session, {}, 4), MirrorWrite::Fenced);

  // The connection ends on its owner: nothing is left to adopt. (Each node's writes keep
  // their order on its own connection to Redis, not across nodes: wait for a's.)
  a.close(again->session);
  {
    std::promise<MirrorWrite> p;
    a.verify(again->session, [&p](MirrorWrite r) { p.set_value(r); });
    EXPECT_EQ(p.get_future().get(), MirrorWrite::Failed);  // the record is gone
  }
  EXPECT_FALSE(adoptAndWait(b, token));
  a.stop();
  b.stop();
}

TEST_F(RedisSessionMirrorTest, UnknownTokensAreNotAdopted) {
  RedisSessionMirror m(options(redis_.port(), "n"));
  m.start();
  EXPECT_FALSE(adoptAndWait(m, "never-negotiated"));
}

TEST(RedisSessionMirror, StartFailsClearlyWithoutRedis) {
  // A port nothing listens on.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::address_v4::loopback(), 0});
  auto port = a.local_endpoint().port();
  a.close();
  RedisSessionMirror m(options(port, "n"));
  try {
    m.start();
    FAIL() << "started without Redis";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot reach Redis"), std::string::npos) << e.what();
  }
}
