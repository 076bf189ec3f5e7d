#include "server/server.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "api/hub_names.h"
#include "core/ids.h"
#include "api/job_progress_events.h"
#include "api/job_progress_hub.h"
#include "api/rest_api.h"
#include "auth/authenticator.h"
#include "auth/jwt_authenticator.h"
#include "api/job_history_source.h"
#include "backplane/backplane.h"
#include "backplane/redis/redis_backplane.h"
#include "backplane/redis/redis_options.h"
#include "cluster/redis_session_mirror.h"
#include "config/load.h"
#include "core/strings.h"
#include "http/http_server.h"
#include "hub/hub_dispatcher.h"
#include "hub/hub_lifetime_manager.h"
#include "jobs/job_engine.h"
#include "jobs/progress_service.h"
#include "pipeline/processors.h"
#include "protocol/signalr/json_protocol.h"
#include "protocol/signalr/msgpack_protocol.h"
#include "storage/open_store.h"
#include "storage/store_location.h"
#include "transport/http_connection.h"

#ifndef HERALD_SOURCE_WEB_ROOT
#define HERALD_SOURCE_WEB_ROOT "web"
#endif

namespace herald::server {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// hostname-pid-random: unique per process, so a restarted node never takes a lease of its
// previous life for its own (that one is re-queued when it expires, like any other).
std::string defaultNodeId() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "herald") + "-" + std::to_string(getpid()) + "-" +
         core::newLeaseToken().substr(0, 6);
}

std::string resolveWebRoot(const config::Config& config) {
  if (!config.app.webRoot.empty()) return config.app.webRoot;
  if (std::filesystem::is_directory("web")) return "web";
  return HERALD_SOURCE_WEB_ROOT;
}

// CPUs this process may run on (its affinity mask: `taskset`, cpusets), which
// hardware_concurrency does not see.
unsigned cpusAvailable() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    return std::max(1u, std::thread::hardware_concurrency());
  }
  return static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
}

// An io_context whose pending handlers can be destroyed before the context itself
// (execution_context::shutdown is protected; it is what the destructor calls first).
class IoContext : public asio::io_context {
 public:
  using asio::io_context::io_context;
  void destroyPendingWork() { shutdown(); }
};

}  // namespace

int runServer(const config::Config& config) {
  // One I/O thread per CPU the process may run on by default (not per core of the
  // machine: under `taskset` or a cpuset, more threads than CPUs would only take turns).
  const unsigned cpus = cpusAvailable();
  const int ioThreads =
      config.server.ioThreads > 0 ? config.server.ioThreads : static_cast<int>(cpus);

  // Storage first: nothing is accepted before the store is open.
  // The connection string is parsed before anything is opened, so a malformed one, or a
  // MariaDB/MySQL server that cannot be reached or refuses the login, stops the server
  // with a clear message. Logs name the store through storage::describe, which leaves any
  // password out.
  std::vector<storage::StorePtr> stores;
  storage::StoreLocation location;
  try {
    location = storage::parseConnectionString(config.connectionStrings.defaultConnection,
                                              config.server.dataDir);
  } catch (const std::exception& e) {
    spdlog::critical("ConnectionStrings:Default: {}", e.what());
    return 1;
  }
  // The Redis connection string too: a malformed one, or an option Herald cannot honour
  // (ssl=true, rediss://, sentinel), stops the start before anything is opened.
  std::optional<backplane::redis::RedisOptions> redisOptions;
  if (!config.connectionStrings.redis.empty()) {
    try {
      redisOptions = backplane::redis::parseRedisConnectionString(config.connectionStrings.redis);
    } catch (const std::exception& e) {
      spdlog::critical("{}", e.what());
      return 1;
    }
  }
  const bool sqlite = location.kind == storage::StoreLocation::Kind::Sqlite;
  const int poolSize = config.storage.poolSize.value_or(sqlite ? 1 : 4);
  if (sqlite && location.sqlitePath == ":memory:" && poolSize > 1) {
    // Each connection to ":memory:" would be a database of its own.
    spdlog::critical("Storage:PoolSize={}: SQLite in memory takes one connection only", poolSize);
    return 1;
  }
  try {
    // One connection per lane; the first one migrates the schema (the others find it
    // current).
    for (int i = 0; i < poolSize; ++i) {
      stores.push_back(storage::openStore(
          location, {.sqliteCheckpointPages = config.server.sqliteCheckpointPages,
                     .sqliteFullSync = config.storage.durability == "full"}));
    }
  } catch (const std::exception& e) {
    spdlog::critical("cannot open the store ({}): {}", storage::describe(location), e.what());
    return 1;
  }
  if (sqlite && location.sqlitePath == ":memory:") {
    // A documented benchmark and throwaway-development setting, never a default.
    spdlog::warn("store: SQLite in memory: jobs and progress do not survive a restart");
  } else {
    spdlog::info("store: {} ({} connection{})", storage::describe(location), poolSize,
                 poolSize == 1 ? "" : "s");
  }

  // One context per lane (with one lane, used only when it has a thread of its own).
  std::vector<std::unique_ptr<asio::io_context>> storeContexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> storeGuards;
  for (int i = 0; i < poolSize; ++i) {
    storeContexts.push_back(std::make_unique<asio::io_context>(1));
    storeGuards.push_back(asio::make_work_guard(*storeContexts.back()));
  }
  std::vector<std::unique_ptr<IoContext>> ioContexts;
  std::vector<asio::io_context*> contextPtrs;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  for (int i = 0; i < ioThreads; ++i) {
    ioContexts.push_back(std::make_unique<IoContext>(1));
    contextPtrs.push_back(ioContexts.back().get());
    guards.push_back(asio::make_work_guard(*ioContexts.back()));
  }

  // The backplane: in-process on one node; Redis when ConnectionStrings:Redis is set. Its
  // origin id is unique per process (not Jobs:NodeId, which two nodes could share by
  // mistake and then skip each other's sends as their own).
  std::unique_ptr<backplane::Backplane> backplanePtr;
  backplane::redis::RedisBackplane* redis = nullptr;
  if (redisOptions) {
    auto r =
        std::make_unique<backplane::redis::RedisBackplane>(backplane::redis::RedisBackplaneOptions{
            *redisOptions, defaultNodeId(), config.backplane.maxQueuedPublishBytes});
    redis = r.get();
    backplanePtr = std::move(r);
  } else {
    backplanePtr = std::make_unique<backplane::InProcessBackplane>();
  }
  auto& backplane = *backplanePtr;
  hub::HubLifetimeManager lifetime(&backplane);
  backplane.setLocalSink(&lifetime);
  // The jobs layer's changes, as hub events through the backplane.
  api::JobProgressEvents jobEvents(backplane);
  // Whether anyone watches the dashboard: on this node (its hub knows) or, with Redis, on
  // another one (polled once a second).
  if (redis) redis->pollInterest(api::names::kDashboardGroup);
  jobEvents.setDashboardInterest([&lifetime, &backplane] {
    return lifetime.hasGroup(api::names::kDashboardGroup) ||
           backplane.watchedElsewhere(api::names::kDashboardGroup);
  });
  // Store work runs on a thread of its own, or on the first I/O thread
  // (Server:DedicatedStoreThread; by default the former only when there is more than one
  // CPU to run it on): see docs/config.md for the trade-off. Several lanes (a pool of
  // connections) always have a thread each: their calls block on the network.
  const bool dedicatedStore = poolSize > 1 || config.server.dedicatedStoreThread.value_or(cpus > 1);
  spdlog::info("store work runs on {} ({} CPU{} available, Server:DedicatedStoreThread={})",
               poolSize > 1 ? std::to_string(poolSize) + " threads of its own, one per connection"
                            : (dedicatedStore ? "a thread of its own" : "the first I/O thread"),
               cpus, cpus == 1 ? "" : "s",
               config.server.dedicatedStoreThread
                   ? (*config.server.dedicatedStoreThread ? "true" : "false")
                   : "auto");
  std::vector<jobs::StoreLane> lanes;
  lanes.reserve(static_cast<std::size_t>(poolSize));
  for (int i = 0; i < poolSize; ++i) {
    lanes.push_back({*stores[i], dedicatedStore
                                     ? asio::any_io_executor(storeContexts[i]->get_executor())
                                     : asio::any_io_executor(ioContexts[0]->get_executor())});
  }
  jobs::ProgressService progress(lanes, jobEvents);
  progress.setLimits({config.jobs.maxMetadataBytes, config.jobs.maxCustomStagesPerVideo});
  // Where the Redis backplane fills what it missed: the store's history of a job.
  api::JobHistorySource history(progress, ioContexts.front()->get_executor());
  if (redis) redis->setHistory(&history);

  hub::HubDispatcher dispatcher;
  // With EnableAuth: each hub method's Access is checked, and jobs and videos are
  // visible to their owner (and admins) only.
  dispatcher.enforceAccess(config.app.enableAuth);
  api::registerJobProgressHub(dispatcher, progress);
  protocol::JsonHubProtocol json;
  protocol::MessagePackHubProtocol messagePack;
  hub::HubServices hubServices{dispatcher, lifetime, backplane, config.signalr, json, messagePack};
  hubServices.limits = &config.limits;  // the invocation rate limit
  const auto nodeId = config.jobs.nodeId.empty() ? defaultNodeId() : config.jobs.nodeId;
  // With Redis, stateful connections are mirrored there so that another node can adopt
  // them when this one dies (docs/architecture.md, "Adoption"). Redis unreachable at
  // start stops the server: a cluster that silently could not adopt would fail open.
  std::shared_ptr<cluster::RedisSessionMirror> sessionMirror;
  if (redisOptions && config.signalr.allowStatefulReconnects) {
    try {
      cluster::RedisSessionMirror::Options options;
      options.address = *redisOptions;
      options.nodeId = nodeId;
      // A dead node's sessions stay adoptable at least this long; more than a client
      // needs to come back (at once), and a multiple of the refresh period (ttl / 3).
      options.ttl = std::max<std::chrono::milliseconds>(std::chrono::seconds(30),
                                                        2 * config.signalr.disconnectTimeout);
      sessionMirror = std::make_shared<cluster::RedisSessionMirror>(std::move(options));
      sessionMirror->start();
    } catch (const std::exception& e) {
      sessionMirror.reset();
      if (redisOptions->abortConnect) {
        spdlog::critical(
            "ConnectionStrings:Redis: cannot reach {} for the session mirror: {} "
            "(abortConnect=true; with abortConnect=false the server starts without it)",
            herald::backplane::redis::describe(*redisOptions), e.what());
        return 1;
      }
      // abortConnect=false: the operator chose to start without Redis. The backplane keeps
      // trying; the mirror does not, so say plainly what this node cannot do.
      spdlog::warn(
          "ConnectionStrings:Redis: the session mirror could not start ({}): this node's "
          "stateful connections cannot be adopted by another node until it is restarted with "
          "Redis reachable",
          e.what());
    }
    if (sessionMirror) {
      spdlog::info(
          "stateful connections are mirrored to Redis: another node adopts them if this one "
          "dies");
      hubServices.mirror = sessionMirror;
    }
  }
  lifetime.setMaxGroupsPerConnection(config.limits.maxGroupsPerConnection);

  jobs::EngineOptions engineOptions;
  engineOptions.enabled = config.app.enableBackgroundJobs;
  engineOptions.workers = config.jobs.workerCount;
  engineOptions.maxUpdatesPerSecond = config.jobs.maxProgressUpdatesPerSecond;
  engineOptions.retryBaseDelay = std::chrono::milliseconds(config.jobs.retryBaseDelayMs);
  engineOptions.nodeId = nodeId;
  engineOptions.leaseLength = std::chrono::seconds(config.jobs.leaseSeconds);
  jobs::JobEngine engine(progress, engineOptions);
  // A cancel on another node reaches this one's engine at once (the lease check, once a
  // second, stays the fallback).
  if (redis) {
    redis->onJobCancelled([&engine](const std::string& jobId) { engine.checkSoon(jobId); });
  }
  // The backplane's thread stops before the engine it calls into is gone (on every path).
  struct StopBackplane {
    herald::backplane::redis::RedisBackplane* redis;
    ~StopBackplane() {
      if (redis) redis->stop();
    }
  } stopBackplane{redis};
  pipeline::PipelineOptions pipelineOptions;
  pipelineOptions.dataDir = config.server.dataDir;
  pipelineOptions.ffmpeg = config.pipeline.ffmpeg;
  pipelineOptions.ffprobe = config.pipeline.ffprobe;
  pipelineOptions.ytDlp = config.pipeline.ytDlp;
  pipelineOptions.maxDownloadBytes = config.pipeline.maxDownloadBytes;
  pipelineOptions.maxMediaBytes = config.pipeline.maxMediaBytes;
  pipelineOptions.downloadTimeout = std::chrono::seconds(config.pipeline.downloadTimeoutSeconds);
  pipelineOptions.embeddingBatchSize = config.pipeline.embeddingBatchSize;
  pipelineOptions.autoTranscribe = config.app.autoTranscribe;
  pipelineOptions.autoGenerateEmbeddings = config.app.autoGenerateEmbeddings;
  pipelineOptions.maxAttempts = config.jobs.maxAttempts;
  pipelineOptions.urlPolicy = config::mediaUrlPolicy(config);
  pipelineOptions.localFileRoots = config.app.localFileRoots;
  if (!config.pipeline.testResolverHosts.empty()) {
    // config::finalize let this through only with HERALD_ALLOW_TEST_RESOLVER=1.
    spdlog::warn(
        "TEST HOOK Pipeline:TestResolverHosts is on: downloads resolve names from it and connect "
        "to 127.0.0.1 only. Never run a real service like this.");
    std::map<std::string, std::string> hosts;
    for (const auto& entry : config.pipeline.testResolverHosts) {
      auto eq = entry.find('=');
      hosts[core::toLower(entry.substr(0, eq))] = entry.substr(eq + 1);
    }
    pipelineOptions.simulatedHosts = std::move(hosts);
  }
  try {
    pipeline::registerPipeline(engine, pipelineOptions);
  } catch (const std::exception& e) {
    spdlog::critical("cannot set up the media pipeline: {}", e.what());
    return 1;
  }

  const auto webRoot = resolveWebRoot(config);
  api::RestApi rest(config, progress, lifetime, engine, webRoot);
  rest.setBackplane(&backplane);
  if (redis) {
    redis->start();
    if (redisOptions->abortConnect) {
      // StackExchange.Redis's default: no Redis, no start (abortConnect=false starts
      // degraded and keeps trying).
      const auto wait = std::chrono::milliseconds(redisOptions->connectTimeoutMs) *
                        std::max(1, redisOptions->connectRetry);
      if (auto failure = redis->waitUntilConnected(wait)) {
        spdlog::critical(
            "ConnectionStrings:Redis: cannot reach {}: {} (abortConnect=true; with "
            "abortConnect=false the server starts without it and keeps trying)",
            herald::backplane::redis::describe(*redisOptions), *failure);
        return 1;
      }
    }
    spdlog::info("backplane: {}", herald::backplane::redis::describe(*redisOptions));
  }
  // Development: every caller is anonymous. EnableAuth: JWT bearer tokens and worker API
  // keys; a key that cannot be read or is of a kind Herald refuses stops the server here.
  std::unique_ptr<auth::Authenticator> authenticatorPtr;
  if (config.app.enableAuth) {
    try {
      auth::JwtKeySet keys;
      if (!config.jwt.secret.empty()) keys.addSecret(config.jwt.secret);
      if (!config.jwt.publicKeyFile.empty()) keys.addPemFile(config.jwt.publicKeyFile);
      auth::JwtVerifier verifier(
          std::move(keys),
          auth::JwtOptions{config.jwt.issuer, config.jwt.audience, config.jwt.clockSkew});
      authenticatorPtr =
          std::make_unique<auth::JwtAuthenticator>(std::move(verifier), config.workers.apiKeys);
    } catch (const std::exception& e) {
      spdlog::critical("authentication: {}", e.what());
      return 1;
    }
    spdlog::info(
        "authentication: JWT bearer tokens required (HS256 secret: {}, public key "
        "file: {}, worker API keys: {})",
        config.jwt.secret.empty() ? "no" : "yes",
        config.jwt.publicKeyFile.empty() ? "none" : config.jwt.publicKeyFile,
        config.workers.apiKeys.size());
  } else {
    authenticatorPtr = std::make_unique<auth::AnonymousAuthenticator>();
  }
  const auth::Authenticator& authenticator = *authenticatorPtr;
  // A cluster node signs its connection tokens so any node can route them (docs/deploy.md).
  // Declared first: the connection manager points to it.
  std::unique_ptr<transport::ClusterKeys> cluster;
  transport::ConnectionManager connections;
  if (config.cluster.enabled) {
    cluster = std::make_unique<transport::ClusterKeys>(config.cluster.secret, engineOptions.nodeId,
                                                       config.cluster.nodes,
                                                       config.signalr.disconnectTimeout);
    connections.setCluster(cluster.get());
  }
  transport::NegotiateOptions negotiateOptions;
  negotiateOptions.webSockets = config.app.enableWebSockets;
  negotiateOptions.statefulReconnect = config.signalr.allowStatefulReconnects;
  http::HttpServer httpServer(
      contextPtrs, config,
      http::Routes{rest, authenticator,
                   transport::TransportContext{connections, hubServices, negotiateOptions,
                                               config.signalr.longPollTimeout},
                   webRoot});
  try {
    httpServer.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot listen on {}:{}: {}", config.server.host, config.server.port,
                     e.what());
    return 1;
  }
  spdlog::info("Herald listening on http://{}:{} ({} I/O thread{})", config.server.host,
               httpServer.boundPort(), ioThreads, ioThreads == 1 ? "" : "s");
  if (cluster) {
    // Known only now (the port may have been 0), and before any request is served: the
    // I/O threads start below.
    auto url = config.cluster.nodeUrl;
    if (url.empty()) {
      const auto& host = config.server.host;
      const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
      url =
          "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(httpServer.boundPort());
    }
    cluster->setNodeUrl(url);
    if (!config.cluster.nodes.empty() &&
        std::find(config.cluster.nodes.begin(), config.cluster.nodes.end(), url) ==
            config.cluster.nodes.end()) {
      spdlog::warn("Cluster:NodeUrl {} is not in Cluster:Nodes: peers will not forward to it", url);
    }
    spdlog::info("cluster node {} at {}: any node serves any connection", cluster->nodeId(), url);
  }

  if (!dedicatedStore) storeGuards.clear();  // storeContexts stay unused
  std::vector<std::thread> storeThreads;
  storeThreads.reserve(storeContexts.size());
  for (auto& context : storeContexts) {
    storeThreads.emplace_back([&context] { context->run(); });
  }
  auto stopStoreThreads = [&] {
    storeGuards.clear();
    for (auto& t : storeThreads) t.join();
    storeThreads.clear();
  };
  try {
    engine.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start the job engine: {}", e.what());
    httpServer.stopAccepting();
    stopStoreThreads();
    return 1;
  }

  auto& main = *ioContexts.front();
  // Reaper: negotiated connections that never attached a transport.
  asio::co_spawn(
      main,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        for (;;) {
          timer.expires_after(1s);
          co_await timer.async_wait(asio::use_awaitable);
          if (auto n = connections.reap(config.signalr.disconnectTimeout)) {
            spdlog::debug("reaped {} inactive connections", n);
          }
        }
      },
      asio::detached);

  asio::signal_set signals(main, SIGINT, SIGTERM);
  std::atomic<bool> stopped{false};
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: shutting down", signal);
    httpServer.stopAccepting();
    protocol::CloseMessage close;
    close.allowReconnect = true;  // clients with automatic reconnect come back elsewhere/later
    // A mirrored stateful connection is handed over instead: its client reattaches to
    // another node, which adopts it (same id, groups, nothing lost).
    for (const auto& c : lifetime.allConnections()) {
      if (!c->handOver()) c->close(close);
    }
    for (const auto& c : connections.all()) {
      if (c->hub && !c->hub->handingOver()) c->hub->close(close);
    }
    asio::co_spawn(
        main,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          auto deadline = std::chrono::steady_clock::now() + config.server.shutdownGrace;
          while (std::chrono::steady_clock::now() < deadline &&
                 (httpServer.activeRequests() > 0 || httpServer.activeSockets() > 0)) {
            timer.expires_after(20ms);
            co_await timer.async_wait(asio::use_awaitable);
          }
          if (httpServer.activeRequests() > 0 || httpServer.activeSockets() > 0) {
            spdlog::warn("shutdown: {} requests / {} sockets still open after grace period",
                         httpServer.activeRequests(), httpServer.activeSockets());
          }
          stopped = true;
          for (auto& g : guards) g.reset();
          for (auto& ctx : ioContexts) ctx->stop();
        },
        asio::detached);
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < ioThreads; ++i) {
    threads.emplace_back([&, i] { ioContexts[i]->run(); });
  }
  main.run();
  for (auto& t : threads) t.join();
  // Workers stop before the store: they may be waiting on it. When the store lives on
  // the first I/O thread, that loop runs once more (on this thread's helper) until
  // they are gone.
  if (dedicatedStore) {
    engine.stop();
  } else {
    main.restart();
    auto keep = asio::make_work_guard(main);
    std::thread storeRunner([&] { main.run(); });
    engine.stop();
    keep.reset();
    main.stop();
    storeRunner.join();
  }
  // Let queued store work finish (it is short), then close the store.
  stopStoreThreads();
  // A request or socket that outlived the grace period is still a pending operation (a
  // coroutine frame) on its I/O context, and that frame refers to the HTTP server, the
  // connection manager and the hub. Shutting the contexts down now destroys those frames
  // while everything they refer to exists; left to the contexts' destructors (they are
  // declared first, so they go last) it ran after the server state they point into
  // (valgrind: invalid reads in the session's Unregister::~Unregister on the freed
  // server). The contexts themselves stay until the end: the listener's acceptor and the
  // sockets still need their services to be destroyed.
  for (auto& ctx : ioContexts) ctx->destroyPendingWork();
  // Last writes (the records of connections that ended) go out before the process does.
  if (sessionMirror) sessionMirror->stop();
  stores.clear();
  spdlog::info("Herald stopped");
  return 0;
}

}  // namespace herald::server
