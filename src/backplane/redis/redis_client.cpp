#include "backplane/redis/redis_client.h"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "backplane/redis/hiredis_asio_adapter.h"

namespace herald::backplane::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A command's reply handler while hiredis holds it: which connection it was sent on
// (a late reply of an earlier connection is dropped) and whether it counts in inFlight.
struct RedisClient::Pending {
  std::uint64_t generation = 0;
  bool counted = false;
  ReplyHandler handler;
};

namespace {

// The backoff: 100 ms doubling up to 2 s between attempts, each drawn between half and
// all of that (jitter: nodes that lost Redis together do not all come back at once).
constexpr auto kFirstRetry = 100ms;
constexpr auto kMaxRetry = 2000ms;

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::Status; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::Error; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::Integer; break;
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::String; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::Array; break;
    default: out.type = RedisReply::Type::Nil; break;
  }
  if (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR ||
      r->type == REDIS_REPLY_STRING) {
    out.str.assign(r->str, r->len);
  }
  if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY) {
    out.elements.reserve(r->elements);
    for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
  }
  return out;
}

RedisReply disconnected(std::string why) {
  RedisReply r;
  r.type = RedisReply::Type::Disconnected;
  r.str = std::move(why);
  return r;
}

void replyCallback(redisAsyncContext* ac, void* reply, void* privdata) {
  auto* pending = static_cast<RedisClient::Pending*>(privdata);
  if (auto* client = static_cast<RedisClient*>(ac->data)) {
    client->onReplyFromHiredis(pending, reply);
  } else {
    delete pending;  // the client is closing
  }
}

void subscriptionCallback(redisAsyncContext* ac, void* reply, void*) {
  auto* client = static_cast<RedisClient*>(ac->data);
  // A null reply: the context is being freed (its loss is reported by the disconnect).
  if (client && reply) client->onSubscriptionMessage(reply);
}

void connectCallback(const redisAsyncContext* ac, int status) {
  if (auto* client = static_cast<RedisClient*>(ac->data)) client->onConnectResult(status);
}

void disconnectCallback(const redisAsyncContext* ac, int status) {
  if (auto* client = static_cast<RedisClient*>(ac->data)) client->onDisconnected(status);
}

}  // namespace

RedisClient::Ptr RedisClient::create(const asio::any_io_executor& executor, RedisOptions options,
                                     ClientRole role, ClientCallbacks callbacks, std::string name) {
  return Ptr(
      new RedisClient(executor, std::move(options), role, std::move(callbacks), std::move(name)));
}

RedisClient::RedisClient(const asio::any_io_executor& executor, RedisOptions options,
                         ClientRole role, ClientCallbacks callbacks, std::string name)
    : strand_(asio::make_strand(executor)),
      options_(std::move(options)),
      role_(role),
      callbacks_(std::move(callbacks)),
      name_(std::move(name)),
      resolver_(strand_),
      retryTimer_(strand_),
      connectTimer_(strand_),
      random_(std::random_device{}()) {}

RedisClient::~RedisClient() {
  if (ac_) {
    ac_->data = nullptr;  // no callback reaches this object any more
    redisAsyncFree(ac_);
    ac_ = nullptr;
  }
}

std::string RedisClient::where() const { return describe(options_) + " (" + name_ + ")"; }

void RedisClient::start() {
  asio::post(strand_, [self = shared_from_this()] {
    if (self->started_ || self->closed_) return;
    self->started_ = true;
    self->connect();
  });
}

void RedisClient::close() {
  closed_ = true;
  ready_ = false;
  retryTimer_.cancel();
  connectTimer_.cancel();
  resolver_.cancel();
  if (ac_) {
    ac_->data = nullptr;
    auto* ac = ac_;
    ac_ = nullptr;
    redisAsyncFree(ac);
  }
}

void RedisClient::connect() {
  if (closed_) return;
  const auto generation = ++generation_;
  resolver_.async_resolve(
      options_.host, std::to_string(options_.port),
      [self = shared_from_this(), generation](const boost::system::error_code& ec,
                                              const asio::ip::tcp::resolver::results_type& r) {
        if (self->closed_ || generation != self->generation_) return;
        if (ec || r.empty()) {
          self->lost("cannot resolve " + self->options_.host + ": " +
                     (ec ? ec.message() : std::string("no address")));
          return;
        }
        self->connectTo(r.begin()->endpoint().address().to_string());
      });
}

void RedisClient::connectTo(const std::string& address) {
  // A numeric address: hiredis's getaddrinfo returns at once.
  redisAsyncContext* ac = redisAsyncConnect(address.c_str(), options_.port);
  if (!ac) {
    lost("cannot allocate a hiredis context");
    return;
  }
  if (ac->err) {
    std::string why = ac->errstr;
    redisAsyncFree(ac);
    lost("cannot connect: " + why);
    return;
  }
  ac_ = ac;
  lastFailure_.clear();
  ac->data = this;
  attachAsio(ac, strand_);
  // The adapter first: setting the connect callback asks it to wait for writability.
  redisAsyncSetConnectCallback(ac, connectCallback);
  redisAsyncSetDisconnectCallback(ac, disconnectCallback);
  // Connect and handshake together must finish within connectTimeout: a Redis that
  // accepts and never answers is as unusable as one that refuses.
  const auto generation = generation_;
  connectTimer_.expires_after(std::chrono::milliseconds(options_.connectTimeoutMs));
  connectTimer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
    if (ec || self->closed_ || generation != self->generation_ || self->ready_) return;
    auto* stuck = self->ac_;
    self->ac_ = nullptr;
    if (stuck) {
      stuck->data = nullptr;
      redisAsyncFree(stuck);
    }
    self->lost("no answer within " + std::to_string(self->options_.connectTimeoutMs) + " ms");
  });
}

void RedisClient::onConnectResult(int status) {
  if (status != REDIS_OK) {
    // hiredis frees the context when this returns.
    std::string why = ac_ && ac_->errstr[0] ? ac_->errstr : "refused";
    ac_ = nullptr;
    lost("cannot connect: " + why);
    return;
  }
  redisEnableKeepAlive(&ac_->c);  // a peer that vanished without a FIN is noticed
  handshake();
}

void RedisClient::onDisconnected(int status) {
  // hiredis frees the context when this returns.
  std::string why = !lastFailure_.empty() ? lastFailure_
                    : status == REDIS_OK  ? std::string("connection closed")
                                          : std::string("connection lost: ") +
                                               (ac_ && ac_->errstr[0] ? ac_->errstr : "error");
  ac_ = nullptr;
  lost(why);
}

void RedisClient::handshake() {
  // AUTH, SELECT and CLIENT SETNAME go out together; the connection is up when all are
  // answered, and the first refusal ends it (its reason is what /health and the log say).
  std::vector<std::pair<std::string, std::vector<std::string>>> steps;
  if (!options_.password.empty()) {
    if (options_.user.empty()) {
      steps.push_back({"AUTH", {"AUTH", options_.password}});
    } else {
      steps.push_back({"AUTH", {"AUTH", options_.user, options_.password}});
    }
  }
  steps.push_back({"SELECT", {"SELECT", std::to_string(options_.database)}});
  if (!options_.clientName.empty()) {
    steps.push_back({"CLIENT SETNAME", {"CLIENT", "SETNAME", options_.clientName}});
  }
  auto remaining = std::make_shared<std::size_t>(steps.size());
  const auto generation = generation_;
  for (auto& [what, argv] : steps) {
    send(argv, [this, generation, remaining, what = what](const RedisReply& r) {
      if (closed_ || generation != generation_) return;
      if (r.type == RedisReply::Type::Disconnected) return;  // the disconnect reports it
      if (r.type == RedisReply::Type::Error) {
        if (lastFailure_.empty()) lastFailure_ = what + " refused: " + r.str;
        if (ac_) redisAsyncDisconnect(ac_);
        return;
      }
      if (--*remaining == 0) becameReady();
    });
  }
}

void RedisClient::becameReady() {
  connected_ = true;
  if (role_ == ClientRole::Subscriber) subscribeAll();
  if (awaiting_.empty()) finishUp();
}

void RedisClient::finishUp() {
  connectTimer_.cancel();
  attempt_ = 0;
  ready_ = true;
  if (everUp_) reconnects_++;
  if (downLogged_) {
    spdlog::info("redis: {}: connected again", where());
  } else if (!everUp_) {
    spdlog::info("redis: {}: connected", where());
  }
  everUp_ = true;
  downLogged_ = false;
  if (callbacks_.up) callbacks_.up();
}

void RedisClient::lost(const std::string& reason) {
  const bool wasReady = ready_;
  ready_ = false;
  connected_ = false;
  ++generation_;
  inFlight_ = 0;
  awaiting_.clear();
  for (auto it = channels_.begin(); it != channels_.end();) {
    it->second.subscribed = false;
    it->second.pending = false;
    it = it->second.wanted ? std::next(it) : channels_.erase(it);
  }
  if (closed_) return;
  if (!downLogged_) {
    spdlog::warn("redis: {}: {}{}", where(), reason,
                 wasReady ? "; reconnecting" : "; trying again");
    downLogged_ = true;
  } else {
    spdlog::debug("redis: {}: {}", where(), reason);
  }
  if (callbacks_.down) callbacks_.down(reason);
  retryLater();
}

void RedisClient::retryLater() {
  const auto cap =
      std::min<std::int64_t>(kMaxRetry.count(), kFirstRetry.count() << std::min(attempt_, 5));
  ++attempt_;
  std::uniform_int_distribution<std::int64_t> pick(cap / 2, cap);
  retryTimer_.expires_after(std::chrono::milliseconds(pick(random_)));
  retryTimer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && !self->closed_) self->connect();
  });
}

void RedisClient::send(const std::vector<std::string>& argv, ReplyHandler handler) {
  send(argv, std::move(handler), false);
}

void RedisClient::send(const std::vector<std::string>& argv, ReplyHandler handler, bool counted) {
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* pending = new Pending{generation_, counted, std::move(handler)};
  if (counted) ++inFlight_;
  if (!ac_ || redisAsyncCommandArgv(ac_, replyCallback, pending, static_cast<int>(args.size()),
                                    args.data(), lens.data()) != REDIS_OK) {
    std::unique_ptr<Pending> owned(pending);
    if (counted) --inFlight_;
    if (owned->handler) owned->handler(disconnected("not connected"));
  }
}

void RedisClient::onReplyFromHiredis(Pending* raw, void* reply) {
  std::unique_ptr<Pending> pending(raw);
  const bool current = pending->generation == generation_;
  if (pending->counted && current && inFlight_ > 0) --inFlight_;
  if (!pending->handler) return;
  if (reply) {
    pending->handler(convert(static_cast<redisReply*>(reply)));
  } else {
    pending->handler(disconnected("connection lost"));
  }
}

void RedisClient::command(std::vector<std::string> argv, ReplyHandler handler) {
  asio::post(strand_, [self = shared_from_this(), argv = std::move(argv),
                       handler = std::move(handler)]() mutable {
    if (!self->ready_ || !self->ac_ || self->closed_) {
      if (handler) handler(disconnected("not connected"));
      return;
    }
    self->send(argv, std::move(handler), true);
  });
}

void RedisClient::subscribe(std::string channel) {
  asio::post(strand_, [self = shared_from_this(), channel = std::move(channel)] {
    self->channels_[channel].wanted = true;
    self->reconcile(channel);
  });
}

void RedisClient::unsubscribe(std::string channel) {
  asio::post(strand_, [self = shared_from_this(), channel = std::move(channel)] {
    auto it = self->channels_.find(channel);
    if (it == self->channels_.end()) return;
    it->second.wanted = false;
    self->reconcile(channel);
  });
}

void RedisClient::subscribeAll() {
  std::vector<std::string> argv{"SUBSCRIBE"};
  for (auto& [name, ch] : channels_) {
    if (!ch.wanted) continue;
    ch.pending = true;
    argv.push_back(name);
    awaiting_.insert(name);
  }
  if (argv.size() == 1) return;
  sendSubscription(argv);
}

void RedisClient::sendSubscription(const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<std::size_t> lens;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  if (ac_) {
    redisAsyncCommandArgv(ac_, subscriptionCallback, nullptr, static_cast<int>(args.size()),
                          args.data(), lens.data());
  }
}

void RedisClient::reconcile(const std::string& name) {
  auto it = channels_.find(name);
  if (it == channels_.end()) return;
  auto& ch = it->second;
  if (!connected_ || ch.pending) return;  // the connect, or the reply in flight, takes it on
  if (ch.wanted && !ch.subscribed) {
    ch.pending = true;
    sendSubscription({"SUBSCRIBE", name});
  } else if (!ch.wanted && ch.subscribed) {
    ch.pending = true;
    sendSubscription({"UNSUBSCRIBE", name});
  } else if (!ch.wanted) {
    channels_.erase(it);
  }
}

void RedisClient::onSubscriptionMessage(void* raw) {
  const auto* r = static_cast<const redisReply*>(raw);
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  const auto* kind = r->element[0];
  const auto* channel = r->element[1];
  if (kind->type != REDIS_REPLY_STRING || channel->type != REDIS_REPLY_STRING) return;
  const std::string_view type(kind->str, kind->len);
  const std::string_view name(channel->str, channel->len);
  if (type == "message") {
    const auto* payload = r->element[2];
    if (payload->type == REDIS_REPLY_STRING && callbacks_.message) {
      callbacks_.message(name, std::string_view(payload->str, payload->len));
    }
    return;
  }
  const std::string key(name);
  auto it = channels_.find(key);
  if (type == "subscribe") {
    if (it != channels_.end()) {
      it->second.pending = false;
      it->second.subscribed = true;
    }
    if (callbacks_.subscribed) callbacks_.subscribed(key);
    if (awaiting_.erase(key) && awaiting_.empty() && !ready_) finishUp();
    reconcile(key);
  } else if (type == "unsubscribe") {
    if (it != channels_.end()) {
      it->second.pending = false;
      it->second.subscribed = false;
    }
    reconcile(key);
  }
}

}  // namespace herald::backplane::redis
