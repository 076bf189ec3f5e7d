#include "cluster/redis_session_mirror.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "hub/session_codec.h"

namespace herald::cluster {

namespace {

using hub::MirrorWrite;

// KEYS: record, frames. ARGV: ttl (ms), then field/value pairs. 1: created; 0: a record
// with this key exists (a token is 128 random bits: only a replay of the same token).
constexpr const char* kCreateScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
)lua";

// KEYS: record, frames. ARGV: epoch, ttl (ms), then operations:
//   F seq member   a frame          H field value   set a record field
//   X field        drop a field     A seq           acknowledged up to seq
//   D              the session ended: both keys go
// Returns 1 when applied, 0 when another node owns the session now (epoch raised), -1
// when the record is gone (expired, or Redis lost its data).
constexpr const char* kWriteScript = R"lua(
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then return -1 end
if epoch ~= ARGV[1] then return 0 end
local i = 3
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'F' then
    redis.call('ZADD', KEYS[2], ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'H' then
    redis.call('HSET', KEYS[1], ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'X' then
    redis.call('HDEL', KEYS[1], ARGV[i + 1]); i = i + 2
  elseif op == 'A' then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[i + 1]); i = i + 2
  elseif op == 'D' then
    redis.call('DEL', KEYS[1], KEYS[2]); return 1
  else
    return redis.error_reply('herald session: unknown operation ' .. tostring(op))
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
)lua";

// KEYS: record, frames. ARGV: node, ttl (ms). Raises the epoch (fencing the previous
// owner), records the new owner and returns {record fields, frames}; nil if none.
constexpr const char* kAdoptScript = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {redis.call('HGETALL', KEYS[1]), redis.call('ZRANGE', KEYS[2], 0, -1)}
)lua";

// Rounds send at most this many commands: a pipeline's replies are read before the
// next round, so one round's memory stays modest.
constexpr std::size_t kMaxRound = 512;
constexpr auto kConnectTimeout = std::chrono::seconds(2);
constexpr auto kCommandTimeout = std::chrono::seconds(5);

timeval toTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

std::string framesKey(const std::string& key) { return key + ":frames"; }

std::string replyText(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR)
             ? std::string(r->str, r->len)
             : std::string();
}

// Runs one command synchronously (start-up only).
redisReply* command(redisContext* c, const std::vector<std::string>& argv) {
  std::vector<const char*> args;
  std::vector<size_t> lengths;
  for (const auto& a : argv) {
    args.push_back(a.data());
    lengths.push_back(a.size());
  }
  return static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lengths.data()));
}

std::optional<hub::SessionMirror::Adopted> parseAdopted(const redisReply* r,
                                                        const std::string& key) {
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return std::nullopt;
  const auto* fields = r->element[0];
  const auto* frames = r->element[1];
  if (fields->type != REDIS_REPLY_ARRAY || frames->type != REDIS_REPLY_ARRAY) return std::nullopt;
  hub::RecordFields pairs;
  for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
    pairs.emplace_back(replyText(fields->element[i]), replyText(fields->element[i + 1]));
  }
  auto record = hub::decodeSessionRecord(pairs);
  if (!record) return std::nullopt;
  hub::SessionMirror::Adopted out;
  out.state = std::move(record->state);
  for (std::size_t i = 0; i < frames->elements; ++i) {
    const auto* f = frames->element[i];
    if (f->type != REDIS_REPLY_STRING) return std::nullopt;
    auto frame = hub::decodeMirroredFrame(std::string_view(f->str, f->len));
    if (!frame) return std::nullopt;  // never adopt half a buffer
    out.state.frames.push_back(std::move(*frame));
  }
  std::sort(out.state.frames.begin(), out.state.frames.end(),
            [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
  out.session = std::make_shared<hub::MirrorSession>();
  out.session->key = key;
  out.session->epoch = record->epoch;
  return out;
}

}  // namespace

RedisSessionMirror::RedisSessionMirror(Options options) : options_(std::move(options)) {}

RedisSessionMirror::~RedisSessionMirror() {
  try {
    stop();
  } catch (const std::exception& e) {
    spdlog::error("session mirror: stopping failed: {}", e.what());
  }
}

std::string RedisSessionMirror::keyOf(const std::string& token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key = "herald:session:";
  for (unsigned int i = 0; i < length; ++i) {
    key += kHex[digest[i] >> 4];
    key += kHex[digest[i] & 0xf];
  }
  return key;
}

bool RedisSessionMirror::connect(std::string& error) {
  disconnect();
  const auto& a = options_.address;
  context_ = redisConnectWithTimeout(
      a.host.c_str(), a.port,
      toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(kConnectTimeout)));
  if (!context_ || context_->err) {
    error = context_ ? context_->errstr : "out of memory";
    disconnect();
    return false;
  }
  redisSetTimeout(
      context_, toTimeval(std::chrono::duration_cast<std::chrono::milliseconds>(kCommandTimeout)));
  redisEnableKeepAlive(context_);
  auto run = [&](const std::vector<std::string>& argv, std::string* out) {
    auto* r = command(context_, argv);
    const bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok) error = r ? replyText(r) : (context_->err ? context_->errstr : "no reply");
    if (ok && out) *out = replyText(r);
    if (r) freeReplyObject(r);
    return ok;
  };
  const bool authenticated =
      a.password.empty() || (a.user.empty() ? run({"AUTH", a.password}, nullptr)
                                            : run({"AUTH", a.user, a.password}, nullptr));
  if (!authenticated) {
    error = "AUTH refused: " + error;
    disconnect();
    return false;
  }
  if (a.database != 0 && !run({"SELECT", std::to_string(a.database)}, nullptr)) {
    disconnect();
    return false;
  }
  // Loaded on every connect (a restarted Redis has forgotten them). A script's SHA-1 is
  // that of its text, the same every time: the members are set once, by start(), before
  // other threads read them.
  std::string create, write, adopt;
  if (!run({"SCRIPT", "LOAD", kCreateScript}, &create) ||
      !run({"SCRIPT", "LOAD", kWriteScript}, &write) ||
      !run({"SCRIPT", "LOAD", kAdoptScript}, &adopt)) {
    error = "loading the session scripts: " + error;
    disconnect();
    return false;
  }
  if (writeSha_.empty()) {
    createSha_ = std::move(create);
    writeSha_ = std::move(write);
    adoptSha_ = std::move(adopt);
  }
  return true;
}

void RedisSessionMirror::disconnect() {
  if (context_) redisFree(context_);
  context_ = nullptr;
}

void RedisSessionMirror::start() {
  std::string error;
  if (!connect(error)) {
    throw std::runtime_error("cannot reach Redis at " + options_.address.host + ":" +
                             std::to_string(options_.address.port) + ": " + error);
  }
  thread_ = std::thread([this] { run(); });
}

void RedisSessionMirror::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  disconnect();
}

void RedisSessionMirror::enqueue(Op op) {
  for (const auto& a : op.argv) op.bytes += a.size();
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queuedBytes_ + op.bytes <= options_.maxQueuedBytes) {
      queuedBytes_ += op.bytes;
      queue_.push_back(std::move(op));
      wake_.notify_one();
      return;
    }
  }
  if (op.done) op.done(nullptr);  // full or stopped: not executed
}

void RedisSessionMirror::markBroken(const hub::MirrorSessionPtr& session) {
  if (session->broken.exchange(true)) return;
  spdlog::warn("session mirror: a write failed; connection state {} is no longer adoptable",
               session->key.substr(15, 12));
  std::lock_guard lock(mutex_);
  deleteLater_.emplace_back(session->key, session->epoch);
  live_.erase(session.get());
}

void RedisSessionMirror::write(const hub::MirrorSessionPtr& session, std::vector<std::string> ops,
                               std::function<void(MirrorWrite)> done) {
  if (!session || session->broken) {
    if (done) done(MirrorWrite::Failed);
    return;
  }
  Op op;
  op.argv.reserve(ops.size() + 7);
  op.argv = {"EVALSHA",
             writeSha_,
             "2",
             session->key,
             framesKey(session->key),
             std::to_string(session->epoch),
             std::to_string(options_.ttl.count())};
  for (auto& o : ops) op.argv.push_back(std::move(o));
  op.done = [this, session, done = std::move(done)](const redisReply* r) {
    MirrorWrite result = MirrorWrite::Failed;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) result = MirrorWrite::Stored;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 0) result = MirrorWrite::Fenced;
    if (result == MirrorWrite::Failed) markBroken(session);
    if (done) done(result);
  };
  enqueue(std::move(op));
}

hub::MirrorSessionPtr RedisSessionMirror::open(const std::string& token,
                                               const hub::SessionState& initial) {
  auto session = std::make_shared<hub::MirrorSession>();
  session->key = keyOf(token);
  session->epoch = 1;
  Op op;
  op.argv = {"EVALSHA",
             createSha_,
             "2",
             session->key,
             framesKey(session->key),
             std::to_string(options_.ttl.count())};
  for (auto& [field, value] : hub::encodeSessionRecord(initial, options_.nodeId, 1)) {
    op.argv.push_back(std::move(field));
    op.argv.push_back(std::move(value));
  }
  op.done = [this, session](const redisReply* r) {
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1) markBroken(session);
  };
  {
    std::lock_guard lock(mutex_);
    live_[session.get()] = session;
  }
  enqueue(std::move(op));
  return session;
}

void RedisSessionMirror::append(const hub::MirrorSessionPtr& session,
                                std::vector<hub::MirroredFrame> frames, std::int64_t totalSent,
                                std::function<void(MirrorWrite)> done) {
  std::vector<std::string> ops;
  ops.reserve(frames.size() * 3 + 3);
  std::unordered_map<std::string, std::int64_t> marks;
  for (const auto& f : frames) {
    ops.emplace_back("F");
    ops.push_back(std::to_string(f.sequence));
    ops.push_back(hub::encodeMirroredFrame(f));
    if (!f.jobId.empty()) marks[f.jobId] = f.jobSequence;  // the batch's last per job
  }
  for (auto& [job, mark] : marks) {
    ops.emplace_back("H");
    ops.push_back(hub::jobMarkField(job));
    ops.push_back(std::to_string(mark));
  }
  ops.emplace_back("H");
  ops.emplace_back("total");
  ops.push_back(std::to_string(totalSent));
  write(session, std::move(ops), std::move(done));
}

void RedisSessionMirror::acknowledge(const hub::MirrorSessionPtr& session, std::int64_t sequence) {
  write(session, {"A", std::to_string(sequence)}, nullptr);
}

void RedisSessionMirror::joined(const hub::MirrorSessionPtr& session, const std::string& group) {
  write(session, {"H", hub::groupField(group), "1"}, nullptr);
}

void RedisSessionMirror::left(const hub::MirrorSessionPtr& session, const std::string& group) {
  write(session, {"X", hub::groupField(group)}, nullptr);
}

void RedisSessionMirror::verify(const hub::MirrorSessionPtr& session,
                                std::function<void(MirrorWrite)> done) {
  write(session, {}, std::move(done));  // no operations: the epoch check (and a TTL renewal)
}

void RedisSessionMirror::close(const hub::MirrorSessionPtr& session) {
  if (!session) return;
  {
    std::lock_guard lock(mutex_);
    live_.erase(session.get());
  }
  if (session->broken) return;  // deleteLater_ has it
  write(session, {"D"}, nullptr);
}

void RedisSessionMirror::adopt(const std::string& token,
                               std::function<void(std::optional<Adopted>)> done) {
  Op op;
  auto key = keyOf(token);
  op.argv = {"EVALSHA",
             adoptSha_,
             "2",
             key,
             framesKey(key),
             options_.nodeId,
             std::to_string(options_.ttl.count())};
  op.done = [this, key, done = std::move(done)](const redisReply* r) {
    auto adopted = parseAdopted(r, key);
    if (r && r->type == REDIS_REPLY_ERROR) {
      spdlog::warn("session mirror: adopting failed: {}", replyText(r));
    }
    if (adopted) {
      std::lock_guard lock(mutex_);
      live_[adopted->session.get()] = adopted->session;
    }
    done(std::move(adopted));
  };
  enqueue(std::move(op));
}

void RedisSessionMirror::refreshAll() {
  std::vector<hub::MirrorSessionPtr> sessions;
  {
    std::lock_guard lock(mutex_);
    for (auto it = live_.begin(); it != live_.end();) {
      if (auto s = it->second.lock()) {
        sessions.push_back(std::move(s));
        ++it;
      } else {
        it = live_.erase(it);
      }
    }
  }
  // A write without operations: checks the epoch and renews both keys' TTL.
  for (const auto& s : sessions) write(s, {}, nullptr);
}

void RedisSessionMirror::run() {
  const auto refreshEvery = options_.ttl / 3;
  auto nextRefresh = std::chrono::steady_clock::now() + refreshEvery;
  auto backoff = std::chrono::milliseconds(100);
  std::vector<Op> round;
  for (;;) {
    round.clear();
    std::vector<std::pair<std::string, std::int64_t>> deletes;
    bool stopping = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, nextRefresh, [&] { return stopping_ || !queue_.empty(); });
      stopping = stopping_;
      while (!queue_.empty() && round.size() < kMaxRound) {
        queuedBytes_ -= queue_.front().bytes;
        round.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (context_) deletes.swap(deleteLater_);
    }
    if (stopping && round.empty()) break;
    if (std::chrono::steady_clock::now() >= nextRefresh) {
      nextRefresh = std::chrono::steady_clock::now() + refreshEvery;
      if (!stopping) refreshAll();  // queued: sent by the next round
    }
    if (!context_) {
      std::string error;
      if (!connect(error)) {
        spdlog::warn("session mirror: Redis unreachable ({}); retrying in {} ms", error,
                     backoff.count());
        for (auto& op : round) {
          if (op.done) op.done(nullptr);
        }
        if (stopping) break;
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, backoff, [&] { return stopping_; });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
        continue;
      }
      spdlog::info("session mirror: connected to Redis again");
      backoff = std::chrono::milliseconds(100);
      std::lock_guard lock(mutex_);
      deletes.swap(deleteLater_);
    }
    // Broken sessions first: their records must go before anything adopts them.
    for (auto& [key, epoch] : deletes) {
      Op op;
      op.argv = {"EVALSHA",
                 writeSha_,
                 "2",
                 key,
                 framesKey(key),
                 std::to_string(epoch),
                 std::to_string(options_.ttl.count()),
                 "D"};
      round.insert(round.begin(), std::move(op));
    }
    for (auto& op : round) {
      std::vector<const char*> args;
      std::vector<size_t> lengths;
      args.reserve(op.argv.size());
      lengths.reserve(op.argv.size());
      for (const auto& a : op.argv) {
        args.push_back(a.data());
        lengths.push_back(a.size());
      }
      redisAppendCommandArgv(context_, static_cast<int>(args.size()), args.data(), lengths.data());
    }
    std::size_t answered = 0;
    for (; answered < round.size(); ++answered) {
      void* raw = nullptr;
      if (redisGetReply(context_, &raw) != REDIS_OK) break;
      auto* reply = static_cast<redisReply*>(raw);
      if (round[answered].done) round[answered].done(reply);
      freeReplyObject(reply);
    }
    if (answered < round.size()) {
      spdlog::warn("session mirror: Redis connection lost: {}",
                   context_->errstr[0] ? context_->errstr : "no reply");
      disconnect();
      for (std::size_t i = answered; i < round.size(); ++i) {
        if (round[i].done) round[i].done(nullptr);
      }
    }
  }
  // Stopped while Redis was away: what is left is answered (not executed), so no caller
  // waits for ever.
  std::deque<Op> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(queue_);
    queuedBytes_ = 0;
  }
  for (auto& op : left) {
    if (op.done) op.done(nullptr);
  }
}

}  // namespace herald::cluster
