// The Redis client and backplane against a real redis-server (HERALD_TEST_REDIS, which
// tools/redis.sh starts; skipped when unset): commands and replies, subscriptions,
// refusals reported with their reason, and two backplanes on one Redis delivering each
// other's sends once, with a gap filled from the history source in order.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "backplane/envelope.h"
#include "backplane/redis/redis_backplane.h"
#include "backplane/redis/redis_client.h"

using namespace herald::backplane;
using namespace herald::backplane::redis;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

std::optional<RedisOptions> testRedis() {
  const char* env = std::getenv("HERALD_TEST_REDIS");
  if (!env || !*env) return std::nullopt;
  auto o = parseRedisConnectionString(env);
  o.connectTimeoutMs = 2000;
  return o;
}

#define REQUIRE_REDIS(var)                                                          \
  auto var##Maybe = testRedis();                                                    \
  if (!var##Maybe) GTEST_SKIP() << "HERALD_TEST_REDIS is not set (tools/redis.sh)"; \
  auto var = *var##Maybe

// An io_context on a thread of its own, for the client under test.
struct Loop {
  asio::io_context context{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{context.get_executor()};
  std::thread thread{[this] { context.run(); }};
  ~Loop() {
    work.reset();
    context.stop();
    thread.join();
  }
};

// Something a callback sets and a test waits for.
template <class T>
struct Signal {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<T> values;
  void push(T v) {
    {
      std::lock_guard lock(mutex);
      values.push_back(std::move(v));
    }
    cv.notify_all();
  }
  bool waitFor(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, timeout, [&] { return values.size() >= n; });
  }
  std::vector<T> snapshot() {
    std::lock_guard lock(mutex);
    return values;
  }
};

// Closes clients on their loop's thread and waits until it is done (close() belongs there).
void closeOn(Loop& loop, std::vector<RedisClient::Ptr> clients) {
  std::promise<void> closed;
  asio::post(loop.context, [&closed, clients] {
    for (const auto& c : clients) c->close();
    closed.set_value();
  });
  closed.get_future().wait();
}

RedisReply run(const RedisClient::Ptr& client, std::vector<std::string> argv) {
  std::promise<RedisReply> reply;
  auto future = reply.get_future();
  client->command(std::move(argv), [&reply](RedisReply r) { reply.set_value(std::move(r)); });
  if (future.wait_for(5s) != std::future_status::ready) return {};
  return future.get();
}

}  // namespace

TEST(RedisClient, CommandsGetTheirReplies) {
  REQUIRE_REDIS(options);
  Loop loop;
  Signal<int> up;
  ClientCallbacks callbacks;
  callbacks.up = [&up] { up.push(1); };
  auto client = RedisClient::create(loop.context.get_executor(), options, ClientRole::Commands,
                                    callbacks, "test");
  client->start();
  ASSERT_TRUE(up.waitFor(1));
  EXPECT_TRUE(client->ready());
  auto set = run(client, {"SET", "herald:test:key", std::string("a\0b", 3)});
  EXPECT_EQ(set.type, RedisReply::Type::Status);
  EXPECT_EQ(set.str, "OK");
  auto get = run(client, {"GET", "herald:test:key"});
  EXPECT_EQ(get.type, RedisReply::Type::String);
  EXPECT_EQ(get.str, std::string("a\0b", 3));  // binary-safe both ways
  auto error = run(client, {"NOSUCHCOMMAND"});
  EXPECT_EQ(error.type, RedisReply::Type::Error);
  auto array = run(client, {"MGET", "herald:test:key", "herald:test:missing"});
  ASSERT_EQ(array.type, RedisReply::Type::Array);
  ASSERT_EQ(array.elements.size(), 2u);
  EXPECT_EQ(array.elements[1].type, RedisReply::Type::Nil);
  run(client, {"DEL", "herald:test:key"});
  closeOn(loop, {client});
}

TEST(RedisClient, SubscriberReceivesWhatIsPublished) {
  REQUIRE_REDIS(options);
  Loop loop;
  Signal<int> commandsUp, subscriberUp;
  Signal<std::string> messages, confirmed;
  ClientCallbacks c;
  c.up = [&] { commandsUp.push(1); };
  auto commands =
      RedisClient::create(loop.context.get_executor(), options, ClientRole::Commands, c, "pub");
  ClientCallbacks s;
  s.up = [&] { subscriberUp.push(1); };
  s.message = [&](std::string_view channel, std::string_view payload) {
    messages.push(std::string(channel) + "=" + std::string(payload));
  };
  s.subscribed = [&](const std::string& channel) { confirmed.push(channel); };
  auto subscriber =
      RedisClient::create(loop.context.get_executor(), options, ClientRole::Subscriber, s, "sub");
  subscriber->subscribe("herald:test:a");
  commands->start();
  subscriber->start();
  ASSERT_TRUE(commandsUp.waitFor(1));
  ASSERT_TRUE(subscriberUp.waitFor(1));  // up only once herald:test:a is confirmed
  ASSERT_TRUE(confirmed.waitFor(1));
  EXPECT_EQ(run(commands, {"PUBLISH", "herald:test:a", "one"}).integer, 1);
  ASSERT_TRUE(messages.waitFor(1));
  // Subscribe, unsubscribe and subscribe again without waiting: the channel still works
  // (hiredis 0.14 loses it if the commands overlap; the client sends them one at a time).
  subscriber->subscribe("herald:test:b");
  subscriber->unsubscribe("herald:test:b");
  subscriber->subscribe("herald:test:b");
  ASSERT_TRUE(confirmed.waitFor(2));
  for (int i = 0; i < 50 && run(commands, {"PUBLISH", "herald:test:b", "two"}).integer != 1; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(messages.waitFor(2));
  EXPECT_EQ(messages.snapshot()[0], "herald:test:a=one");
  EXPECT_EQ(messages.snapshot()[1], "herald:test:b=two");
  closeOn(loop, {commands, subscriber});
}

TEST(RedisClient, RefusalsAndUnreachableServersAreReportedWithTheirReason) {
  REQUIRE_REDIS(options);
  Loop loop;
  Signal<std::string> down;
  ClientCallbacks c;
  c.down = [&](const std::string& reason) { down.push(reason); };
  auto wrong = options;
  wrong.password = "not-the-password";  // the test server has none (or another one)
  wrong.user = "nobody";
  auto refused =
      RedisClient::create(loop.context.get_executor(), wrong, ClientRole::Commands, c, "wrong");
  refused->start();
  ASSERT_TRUE(down.waitFor(1));
  EXPECT_NE(down.snapshot()[0].find("AUTH refused"), std::string::npos) << down.snapshot()[0];
  EXPECT_EQ(down.snapshot()[0].find("not-the-password"), std::string::npos);
  EXPECT_FALSE(refused->ready());

  Signal<std::string> down2;
  ClientCallbacks c2;
  c2.down = [&](const std::string& reason) { down2.push(reason); };
  auto nowhere = options;
  nowhere.host = "127.0.0.1";
  nowhere.port = 1;  // nothing listens there
  auto unreachable =
      RedisClient::create(loop.context.get_executor(), nowhere, ClientRole::Commands, c2, "none");
  unreachable->start();
  ASSERT_TRUE(down2.waitFor(2));  // it keeps trying
  EXPECT_NE(down2.snapshot()[0].find("cannot connect"), std::string::npos) << down2.snapshot()[0];
  auto reply = run(unreachable, {"PING"});
  EXPECT_EQ(reply.type, RedisReply::Type::Disconnected);
  closeOn(loop, {refused, unreachable});
}

namespace {

class CollectingSink final : public LocalSink {
 public:
  void deliverLocal(Envelope e) override { received.push(std::move(e)); }
  Signal<Envelope> received;
};

// A job's stored updates, as the store would give them, read asynchronously.
class FakeHistory final : public HistorySource {
 public:
  std::optional<std::string> jobOfGroup(const std::string& group) const override {
    if (group.rfind("job-", 0) != 0) return std::nullopt;
    return group.substr(4);
  }
  void readAfter(const std::string& jobId, std::int64_t after, std::size_t limit,
                 std::function<void(Page)> done) override {
    std::vector<Envelope> page;
    for (std::int64_t s = after + 1; s <= stored && page.size() < limit; ++s) {
      page.push_back(update(jobId, s));
    }
    reads++;
    std::lock_guard lock(mutex);
    threads.emplace_back(
        [done = std::move(done), page = std::move(page)]() mutable { done(std::move(page)); });
  }
  // Before the backplanes that the reads call back go.
  void joinAll() {
    for (;;) {
      std::vector<std::thread> batch;
      {
        std::lock_guard lock(mutex);
        batch.swap(threads);
      }
      if (batch.empty()) return;
      for (auto& t : batch) t.join();  // a read may start another one
    }
  }
  static Envelope update(const std::string& jobId, std::int64_t s) {
    Envelope e;
    e.target = Target::group("job-" + jobId);
    e.event = "JobProgressUpdate";
    e.argumentsJson = "[" + std::to_string(s) + "]";
    e.ordering = Ordering{jobId, s};
    return e;
  }
  std::atomic<std::int64_t> stored{0};
  std::atomic<int> reads{0};
  std::mutex mutex;
  std::vector<std::thread> threads;
};

std::vector<std::int64_t> sequencesOf(const std::vector<Envelope>& envelopes) {
  std::vector<std::int64_t> out;
  for (const auto& e : envelopes) {
    if (e.ordering) out.push_back(e.ordering->sequence);
  }
  return out;
}

}  // namespace

TEST(RedisBackplane, SendsCrossNodesOnceAndGapsAreFilledInOrder) {
  REQUIRE_REDIS(options);
  options.channelPrefix = "unit" + std::to_string(::getpid());  // apart from other runs
  FakeHistory history;
  CollectingSink sinkA, sinkB;
  RedisBackplane a({options, "node-a", 1 << 20}), b({options, "node-b", 1 << 20});
  a.setLocalSink(&sinkA);
  b.setLocalSink(&sinkB);
  a.setHistory(&history);
  b.setHistory(&history);
  Signal<std::string> cancelledA, cancelledB;
  a.onJobCancelled([&](const std::string& id) { cancelledA.push(id); });
  b.onJobCancelled([&](const std::string& id) { cancelledB.push(id); });
  a.start();
  b.start();
  ASSERT_FALSE(a.waitUntilConnected(5s));
  ASSERT_FALSE(b.waitUntilConnected(5s));
  EXPECT_FALSE(a.health().degraded);

  b.subscribe("job-1");
  std::promise<void> inEffect;
  b.whenSubscribed("job-1", [&inEffect] { inEffect.set_value(); });
  ASSERT_EQ(inEffect.get_future().wait_for(5s), std::future_status::ready);
  // The first connect filled job-1 from the (empty) history: nothing delivered.

  // 1 and 2 published on A: A delivers them locally (its sink has no members, but it is
  // called), B gets them over Redis, once.
  history.stored = 2;
  a.publish(FakeHistory::update("1", 1));
  a.publish(FakeHistory::update("1", 2));
  ASSERT_TRUE(sinkB.received.waitFor(2));
  // 3 and 4 are stored but their messages "lost"; 5 arrives: B fills 3 and 4 from the
  // store before it delivers 5.
  history.stored = 5;
  a.publish(FakeHistory::update("1", 5));
  ASSERT_TRUE(sinkB.received.waitFor(5));
  EXPECT_EQ(sequencesOf(sinkB.received.snapshot()), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  // A's own sends did not come back to it: exactly the three it published.
  EXPECT_EQ(sequencesOf(sinkA.received.snapshot()), (std::vector<std::int64_t>{1, 2, 5}));

  // Unordered sends (a notification to a user group) and broadcasts reach B too.
  b.subscribe("user-u1");
  std::promise<void> userInEffect;
  b.whenSubscribed("user-u1", [&userInEffect] { userInEffect.set_value(); });
  ASSERT_EQ(userInEffect.get_future().wait_for(5s), std::future_status::ready);
  Envelope note;
  note.target = Target::group("user-u1");
  note.event = "UserNotification";
  note.argumentsJson = "[{}]";
  a.publish(note);
  Envelope all;
  all.target = Target::all();
  all.event = "BroadcastNotification";
  all.argumentsJson = "[{}]";
  a.publish(all);
  ASSERT_TRUE(sinkB.received.waitFor(7));
  auto got = sinkB.received.snapshot();
  EXPECT_EQ(got[5].event, "UserNotification");
  EXPECT_EQ(got[6].event, "BroadcastNotification");

  // A cancel signal reaches the other node's handler, not the sender's.
  a.signalJobCancelled("9");
  ASSERT_TRUE(cancelledB.waitFor(1));
  EXPECT_EQ(cancelledB.snapshot()[0], "9");
  EXPECT_TRUE(cancelledA.snapshot().empty());
  history.joinAll();
  a.stop();
  b.stop();
}
