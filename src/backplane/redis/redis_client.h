#pragma once
// One connection to Redis on hiredis's async API (0.14), driven by an Asio executor
// (hiredis_asio_adapter.h): connects, sends AUTH, SELECT and CLIENT SETNAME on every
// connect, and when the connection is lost or an attempt fails, tries again after a
// capped, jittered backoff (100 ms doubling to 2 s: a restarted Redis is found again
// within about two seconds, and a fleet of nodes does not reconnect in lockstep), for as
// long as the client runs. Names are resolved with Asio's resolver, never by hiredis
// (its getaddrinfo would block the thread).
//
// Two roles: Commands (command(): any command, replies to a callback) and Subscriber
// (subscribe()/unsubscribe(): the channels wanted are kept and subscribed again on every
// connect; messages to a callback). A Redis connection in subscribed mode takes no
// other commands, hence two clients for a backplane.
//
// Thread safety: public members may be called from any thread (they post to the
// client's strand). Every callback (ClientCallbacks, reply handlers) runs on that strand.
// close() is the exception: call it on the strand, or when no thread runs the executor
// (shutdown); after it no callback runs.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "backplane/redis/redis_options.h"

struct redisAsyncContext;

namespace herald::backplane::redis {

struct RedisReply {
  // Disconnected: no reply came (the connection was lost, or was not up when the command
  // was given); the command may or may not have run. `str` says why.
  enum class Type { Status, Error, Integer, String, Nil, Array, Disconnected };
  Type type = Type::Nil;
  std::string str;  // Status, Error, String, Disconnected
  long long integer = 0;
  std::vector<RedisReply> elements;  // Array
  bool ok() const { return type != Type::Error && type != Type::Disconnected; }
};

enum class ClientRole { Commands, Subscriber };

struct ClientCallbacks {
  // Connected, authenticated, database selected; for a Subscriber, every channel wanted is
  // subscribed too (its SUBSCRIBE confirmed).
  std::function<void()> up;
  // Not (or no longer) usable: a lost connection or a failed attempt, with the reason
  // (for logs and /health; never holds the password).
  std::function<void(const std::string& reason)> down;
  // Subscriber: a message published on `channel`.
  std::function<void(std::string_view channel, std::string_view payload)> message;
  // Subscriber: `channel`'s SUBSCRIBE was confirmed (also during the connect, before up).
  std::function<void(const std::string& channel)> subscribed;
};

class RedisClient : public std::enable_shared_from_this<RedisClient> {
 public:
  using Ptr = std::shared_ptr<RedisClient>;
  using ReplyHandler = std::function<void(RedisReply)>;

  // `name` tells this client apart in logs ("commands", "subscriber").
  static Ptr create(const boost::asio::any_io_executor& executor, RedisOptions options,
                    ClientRole role, ClientCallbacks callbacks, std::string name);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  void start();
  // Disconnects and stops trying (see the thread-safety note).
  void close();

  // Commands role. `argv` is sent as one command (binary-safe); `handler` (optional) gets
  // the reply, or Disconnected at once when the connection is not up.
  void command(std::vector<std::string> argv, ReplyHandler handler = {});
  // Commands sent and not answered yet: a caller bounds what it puts on the wire with it.
  std::size_t inFlight() const { return inFlight_.load(); }

  // Subscriber role: the channel is wanted from now on (and after every reconnect).
  void subscribe(std::string channel);
  void unsubscribe(std::string channel);

  bool ready() const { return ready_.load(); }
  // Times the connection came back after being up once.
  std::uint64_t reconnects() const { return reconnects_.load(); }

  // Used by the C callbacks (redis_client.cpp).
  struct Pending;
  void onReplyFromHiredis(Pending* pending, void* reply);
  void onSubscriptionMessage(void* reply);
  void onConnectResult(int status);
  void onDisconnected(int status);

 private:
  RedisClient(const boost::asio::any_io_executor& executor, RedisOptions options, ClientRole role,
              ClientCallbacks callbacks, std::string name);

  // Per channel: what is wanted and what Redis has. One SUBSCRIBE or UNSUBSCRIBE per
  // channel is in flight at a time: hiredis 0.14 forgets a channel's callback when an
  // UNSUBSCRIBE reply arrives after a newer SUBSCRIBE of it was sent.
  struct Channel {
    bool wanted = false;
    bool subscribed = false;
    bool pending = false;
  };

  void connect();
  void connectTo(const std::string& address);
  void handshake();
  void becameReady();
  void finishUp();
  void lost(const std::string& reason);
  void retryLater();
  void send(const std::vector<std::string>& argv, ReplyHandler handler);
  void send(const std::vector<std::string>& argv, ReplyHandler handler, bool counted);
  void sendSubscription(const std::vector<std::string>& argv);
  void reconcile(const std::string& channel);
  void subscribeAll();
  std::string where() const;

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  const RedisOptions options_;
  const ClientRole role_;
  ClientCallbacks callbacks_;
  const std::string name_;

  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::steady_timer retryTimer_;
  boost::asio::steady_timer connectTimer_;
  std::minstd_rand random_;
  int attempt_ = 0;  // failed attempts in a row (the backoff's exponent)
  bool closed_ = false;
  bool started_ = false;
  bool everUp_ = false;
  bool downLogged_ = false;  // one warning per outage, not one per attempt
  bool connected_ = false;   // handshake done (a Subscriber may be confirming channels)
  redisAsyncContext* ac_ = nullptr;
  std::uint64_t generation_ = 0;  // which connection a reply belongs to
  std::string lastFailure_;       // why the current connection is going away
  std::map<std::string, Channel> channels_;
  std::set<std::string> awaiting_;  // channels of the connect's SUBSCRIBE not yet confirmed
  std::atomic<bool> ready_{false};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::size_t> inFlight_{0};
};

}  // namespace herald::backplane::redis
