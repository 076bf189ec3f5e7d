// The downloader against canned HTTP servers on loopback: the address policy (nothing is
// ever sent to a refused address: the servers count every connection), redirects, IPv6
// literals, the size limit and file-descriptor shortage. Private, link-local and
// metadata addresses are reached only through the simulated network
// (DownloadOptions::simulatedHosts), which connects to 127.0.0.1 whatever it resolves,
// so even a broken policy could not send a packet off this machine.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "pipeline/downloader.h"
#include "pipeline/errors.h"
#include "test_support.h"

namespace herald::pipeline {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Answers each request with the canned response for its target (404 otherwise), one
// request per connection, on its own thread.
class CannedServer {
 public:
  explicit CannedServer(const asio::ip::address& at = asio::ip::address_v4::loopback())
      : acceptor_(io_, tcp::endpoint(at, 0)), address_(at) {
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedServer() {
    stopping_ = true;
    boost::system::error_code ec;
    tcp::socket poke(io_);
    poke.connect(tcp::endpoint(address_, port()), ec);  // wakes the blocking accept
    thread_.join();
  }

  void on(const std::string& target, const std::string& response) {
    std::lock_guard lock(mutex_);
    responses_[target] = response;
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  int connections() const { return connections_; }
  std::vector<std::string> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::string lastHost() const {
    std::lock_guard lock(mutex_);
    return lastHost_;
  }

 private:
  void serve() {
    while (!stopping_) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (stopping_) return;
      if (ec) {  // e.g. out of descriptors in the EMFILE test: try again shortly
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      ++connections_;
      asio::streambuf buf;
      asio::read_until(socket, buf, "\r\n\r\n", ec);
      if (ec) continue;
      std::istream in(&buf);
      std::string method, target, line, response;
      in >> method >> target;
      std::getline(in, line);
      while (std::getline(in, line) && line != "\r") {
        if (line.rfind("Host: ", 0) == 0 || line.rfind("host: ", 0) == 0) {
          std::lock_guard lock(mutex_);
          lastHost_ = line.substr(6, line.size() - 7);
        }
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(target);
        auto it = responses_.find(target);
        response = it != responses_.end() ? it->second
                                          : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
      }
      asio::write(socket, asio::buffer(response), ec);
    }
  }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::ip::address address_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::map<std::string, std::string> responses_;
  std::vector<std::string> requests_;
  std::string lastHost_;
};

std::string ok(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string redirect(const std::string& location, int status = 302) {
  return "HTTP/1.1 " + std::to_string(status) + " Found\r\nLocation: " + location +
         "\r\nContent-Length: 0\r\n\r\n";
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

DownloadOptions quick() {
  DownloadOptions o;
  o.timeout = std::chrono::seconds(5);
  return o;
}

// A production-like policy on a simulated network where each name stands for the
// address it is named after.
DownloadOptions simulatedProduction() {
  auto o = quick();
  o.refusePrivateAddresses = true;
  o.simulatedHosts = std::map<std::string, std::string>{
      {"public.test", "192.0.2.10"},        {"public6.test", "2001:db8::10"},
      {"loopback.test", "127.0.0.1"},       {"metadata.test", "169.254.169.254"},
      {"linklocal.test", "169.254.10.1"},   {"ten.test", "10.0.0.1"},
      {"oneseventwo.test", "172.16.0.1"},   {"oneninetwo.test", "192.168.1.1"},
      {"cgnat.test", "100.64.0.1"},         {"ula.test", "fd00::1"},
      {"linklocal6.test", "fe80::1"},       {"loopback6.test", "::1"},
      {"mapped.test", "::ffff:127.0.0.1"},  {"mapped10.test", "::ffff:10.0.0.1"},
      {"nat64.test", "64:ff9b::a9fe:a9fe"}, {"unspecified.test", "0.0.0.0"},
      {"multicast.test", "224.0.0.1"},      {"metadata6.test", "fd00:ec2::254"},
  };
  return o;
}

TEST(Downloader, AnOverLimitContentLengthIsAPermanentFailure) {
  test::TempDir dir;
  CannedServer server;
  server.on("/big.mp4", "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'x'));
  server.on("/chunked.mp4", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n" +
                                std::string(5000, 'x') + "\r\n0\r\n\r\n");
  auto o = quick();
  o.maxBytes = 1024;
  for (const char* target : {"/big.mp4", "/chunked.mp4"}) {
    const auto url = "http://127.0.0.1:" + std::to_string(server.port()) + target;
    try {
      downloadToFile(url, dir.file("out"), o);
      FAIL() << target << " was accepted";
    } catch (const DownloadUnavailable& e) {
      FAIL() << target << " was called transient (it would be retried): " << e.what();
    } catch (const MediaError& e) {
      EXPECT_NE(std::string(e.what()).find("larger than the allowed 1024 bytes"), std::string::npos)
          << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file("out"))) << "no partial file is left";
  }
}

TEST(Downloader, FollowsRelativeRedirects) {
  test::TempDir dir;
  CannedServer server;
  const auto port = std::to_string(server.port());
  server.on("/start", redirect("b/c.mp4"));
  server.on("/b/c.mp4", redirect("../final.mp4", 301));
  server.on("/final.mp4", redirect("//127.0.0.1:" + port + "/abs?x=1#fragment", 307));
  server.on("/abs?x=1", redirect("?y=2", 308));
  server.on("/abs?y=2", redirect("/done.mp4"));
  server.on("/done.mp4", ok("hello"));
  downloadToFile("http://127.0.0.1:" + port + "/start", dir.file("out"), quick());
  EXPECT_EQ(readFile(dir.file("out")), "hello");
  EXPECT_EQ(server.requests(), (std::vector<std::string>{"/start", "/b/c.mp4", "/final.mp4",
                                                         "/abs?x=1", "/abs?y=2", "/done.mp4"}));
  EXPECT_EQ(server.lastHost(), "127.0.0.1:" + port);
}

TEST(Downloader, DownloadsFromIpv6Literals) {
  test::TempDir dir;
  std::unique_ptr<CannedServer> server;
  try {
    server = std::make_unique<CannedServer>(asio::ip::address_v6::loopback());
  } catch (const std::exception& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  server->on("/v.mp4", redirect("w.mp4"));
  server->on("/w.mp4", ok("six"));
  const auto port = std::to_string(server->port());
  downloadToFile("http://[::1]:" + port + "/v.mp4", dir.file("out"), quick());
  EXPECT_EQ(readFile(dir.file("out")), "six");
  EXPECT_EQ(server->lastHost(), "[::1]:" + port);
}

TEST(Downloader, PolicyRefusesLoopbackWithoutConnecting) {
  test::TempDir dir;
  CannedServer server;
  server.on("/secret", ok("secret"));
  auto o = quick();
  o.refusePrivateAddresses = true;
  const auto port = std::to_string(server.port());
  for (const auto& url :
       {"http://127.0.0.1:" + port + "/secret", "http://localhost:" + port + "/secret",
        "http://2130706433:" + port + "/secret", "http://[::ffff:127.0.0.1]:" + port + "/secret",
        "http://[::1]:" + port + "/secret"}) {
    EXPECT_THROW(downloadToFile(url, dir.file("out"), o), DownloadRefused) << url;
  }
  EXPECT_EQ(server.connections(), 0) << "nothing may reach a refused address";
  o.refusePrivateAddresses = false;  // development
  downloadToFile("http://127.0.0.1:" + port + "/secret", dir.file("out"), o);
  EXPECT_EQ(readFile(dir.file("out")), "secret");
}

TEST(Downloader, SimulatedNetworkRefusesEveryPrivateRangeWithoutConnecting) {
  test::TempDir dir;
  CannedServer server;  // the simulated network sends every connection here
  server.on("/x", ok("leaked"));
  const auto port = std::to_string(server.port());
  auto o = simulatedProduction();
  for (const auto& [name, address] : *o.simulatedHosts) {
    if (name.starts_with("public")) continue;
    try {
      downloadToFile("http://" + name + ":" + port + "/x", dir.file("out"), o);
      FAIL() << name << " (" << address << ") was downloaded from";
    } catch (const DownloadRefused& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("AllowPrivateNetworkDownloads"), std::string::npos);
    }
  }
  EXPECT_EQ(server.connections(), 0) << "no refused address was connected to";
  EXPECT_THROW(downloadToFile("http://unknown.test:" + port + "/x", dir.file("out"), o),
               MediaError);
  EXPECT_EQ(server.connections(), 0);
}

TEST(Downloader, ARedirectToAPrivateAddressIsRefusedBeforeConnecting) {
  test::TempDir dir;
  CannedServer allowed;  // plays public.test
  CannedServer target;   // what the redirects point at
  const auto to = std::to_string(target.port());
  target.on("/secret", ok("secret"));
  allowed.on("/ok.mp4", ok("public media"));
  allowed.on("/to-literal", redirect("http://127.0.0.1:" + to + "/secret"));
  allowed.on("/to-localhost", redirect("http://localhost:" + to + "/secret"));
  allowed.on("/to-metadata", redirect("http://metadata.test:" + to + "/secret"));
  allowed.on("/to-ten", redirect("http://ten.test:" + to + "/secret"));
  allowed.on("/to-v6", redirect("http://[::1]:" + to + "/secret"));
  allowed.on("/to-mapped", redirect("http://mapped.test:" + to + "/secret"));
  auto o = simulatedProduction();
  const auto from = "http://public.test:" + std::to_string(allowed.port());
  downloadToFile(from + "/ok.mp4", dir.file("out"), o);
  EXPECT_EQ(readFile(dir.file("out")), "public media") << "an allowed host downloads";
  for (const char* hop :
       {"/to-literal", "/to-localhost", "/to-metadata", "/to-ten", "/to-v6", "/to-mapped"}) {
    EXPECT_THROW(downloadToFile(from + hop, dir.file("out"), o), DownloadRefused) << hop;
    EXPECT_FALSE(std::filesystem::exists(dir.file("out")));
  }
  EXPECT_EQ(allowed.connections(), 7);
  EXPECT_EQ(target.connections(), 0) << "no redirect target was connected to";
}

// Sets the soft descriptor limit for one scope.
class FdLimit {
 public:
  explicit FdLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ::setrlimit(RLIMIT_NOFILE, &lowered);
  }
  ~FdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  FdLimit(const FdLimit&) = delete;
  FdLimit& operator=(const FdLimit&) = delete;

 private:
  rlimit saved_{};
};

TEST(Downloader, RunningOutOfDescriptorsIsTransient) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  // The sanitizer runtimes need descriptors of their own (UBSan reads /proc/self/maps to
  // check a vptr) and report false errors without them; the release build runs this.
  GTEST_SKIP() << "needs a build without sanitizers";
#endif
  test::TempDir dir;
  CannedServer server;
  server.on("/v.mp4", ok("media"));
  const auto url = "http://127.0.0.1:" + std::to_string(server.port()) + "/v.mp4";
  auto o = quick();
  o.timeout = std::chrono::seconds(2);
  const int lowestFree = ::dup(0);
  ASSERT_GE(lowestFree, 0);
  ::close(lowestFree);
  // From no descriptor left to a few: the io_context, the socket, the server's accept or
  // the output file runs out first; each must be a failure worth retrying.
  int failures = 0;
  for (int spare = 0; spare <= 6; ++spare) {
    std::string outcome = "downloaded";
    {
      FdLimit limit(static_cast<rlim_t>(lowestFree + spare));
      try {
        downloadToFile(url, dir.file("out"), o);
      } catch (const DownloadUnavailable& e) {
        outcome = std::string("transient: ") + e.what();
        ++failures;
      } catch (const std::exception& e) {
        outcome = std::string("PERMANENT: ") + e.what();
      }
    }
    EXPECT_EQ(outcome.rfind("PERMANENT", 0), std::string::npos)
        << spare << " spare descriptors: " << outcome;
  }
  EXPECT_GT(failures, 0);
  downloadToFile(url, dir.file("out"), o);
  EXPECT_EQ(readFile(dir.file("out")), "media") << "works again with descriptors to spare";
}

}  // namespace
}  // namespace herald::pipeline
