#pragma once
// Herald's configuration as plain structs, with defaults and why they are what they are.
// Loaded once at start-up (load.cpp): appsettings.json, then `Section__Key` environment
// variables, then command-line flags. Read-only afterwards, so any thread may read it.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace herald::config {

struct AppSettings {
  bool enableWebSockets = true;
  bool enableBackgroundJobs = true;
  bool autoTranscribe = true;
  bool autoGenerateEmbeddings = true;
  bool enableAuth = false;
  bool isProduction = false;
  std::vector<std::string> allowedOrigins;
  // Host names a request's Host header may name (AppSettings:AllowedHosts, as ASP.NET
  // Core's host filtering: `*`, a name, or `*.example.com` for its subdomains; no ports).
  // A page on an attacker's name that rebinds to this server (DNS rebinding) is then
  // refused. Unset: `*` in development; in production the loopback names plus
  // Server:Host when it is a name or address rather than a wildcard (finalize()).
  std::vector<std::string> allowedHosts;
  bool allowedHostsSet = false;
  std::string webRoot;  // empty: the web/ folder next to the binary's source tree
  // file:// URLs and absolute paths in ingest requests. Default: on in development,
  // off in production, where reading server files on a client's say-so is a hazard.
  bool allowLocalFiles = true;
  bool allowLocalFilesSet = false;
  // Folders local files must lie in (after symlinks are resolved). Empty: anywhere, which
  // only development accepts; production with AllowLocalFiles needs at least one.
  std::vector<std::string> localFileRoots;
  // Downloads from loopback, private, link-local and metadata addresses. Always allowed
  // in development (IsProduction=false); in production off, so an ingest URL cannot make
  // the server reach into the network it runs in (docs/security.md "Downloads").
  bool allowPrivateNetworkDownloads = false;
  // AppSettings:TrustedProxies: the reverse proxies (addresses or CIDR networks) whose
  // X-Forwarded-For header names the client (http/forwarded_for.h). Empty: none, and the
  // header is ignored: a client could otherwise claim any address and slip past the
  // per-address limits. A proxy in front of Herald must be listed for those limits to
  // see its clients rather than the proxy.
  std::vector<std::string> trustedProxies;
};

struct JobSettings {
  int workerCount = 2;  // two cores here: more would only contend for them
  double maxProgressUpdatesPerSecond = 10;
  int maxAttempts = 3;
  int retryBaseDelayMs = 2000;  // doubled per attempt
  // A claimed job's lease (Jobs:LeaseSeconds): renewed every third of it while the job
  // runs, so a node that dies (kill -9) loses its jobs to other nodes this long after.
  int leaseSeconds = 30;
  // Herald:NodeId: who holds this node's leases. Empty: hostname-pid-random, unique per
  // process (a restarted node must not take over a live lease under the same name).
  std::string nodeId;
  // Jobs:MaxMetadataBytes: a job's metadata as JSON, checked on create and on the result
  // of merging each report's. Metadata is read with the job everywhere (REST, hub events,
  // the store's job cache), so it must stay small: 16 KB holds any realistic worker
  // bookkeeping, and bounds the cache at 4,096 jobs x 16 KB. Over it: 400, nothing stored.
  std::size_t maxMetadataBytes = std::size_t{16} * 1024;
  // Jobs:MaxCustomStagesPerVideo: stages a video may have besides Ingestion, Transcription
  // and Embedding (one per other jobType reported on it). Every stage rides in each
  // VideoProgressUpdate and each report on the video rewrites them all, so 8 (a worker's
  // few extra steps) keeps both small. A job of a new type past it: 400.
  int maxCustomStagesPerVideo = 8;
};

struct PipelineSettings {
  std::string ffmpeg = "ffmpeg";
  std::string ffprobe = "ffprobe";
  std::string ytDlp = "yt-dlp";
  // Largest download accepted; bounds disk use per ingest.
  std::size_t maxDownloadBytes = 2ULL * 1024 * 1024 * 1024;
  // Pipeline:MaxMediaBytes: all downloaded media under <dataDir>/media. Ingests evict
  // finished videos' media (oldest first) to stay under it, and wait (retried) when
  // nothing can go. 20 GiB: ten maximal downloads; docs/operations.md has the policy.
  std::uint64_t maxMediaBytes = 20ULL * 1024 * 1024 * 1024;
  int downloadTimeoutSeconds = 600;
  int embeddingBatchSize = 16;
  // TEST HOOK, a simulated network for the SSRF tests: "name.test=address" entries that
  // replace DNS for downloads, with every download connection then made to 127.0.0.1 at
  // the URL's port. Names must end in ".test" (RFC 6761: never real). Refused at start
  // unless the environment has HERALD_ALLOW_TEST_RESOLVER=1 (docs/security.md).
  std::vector<std::string> testResolverHosts;
};

struct SignalRSettings {
  // Default: on unless production, so developers see why a call failed.
  bool enableDetailedErrors = true;
  bool detailedErrorsSet = false;  // whether the config named it explicitly
  // The spec's defaults (longer than ASP.NET's 15 s handshake / 30 s client timeout):
  // slow mobile links get time to finish the handshake.
  std::chrono::seconds handshakeTimeout{30};
  // Half the clients' 30 s server timeout, so one lost ping never drops a client.
  std::chrono::seconds keepAliveInterval{15};
  std::chrono::seconds clientTimeoutInterval{60};
  // Bytes the parser buffers looking for one complete message; past it the connection
  // is closed (the whole-connection policy of ASP.NET Core).
  std::size_t maximumReceiveMessageSize = 102400;
  // Reap negotiated connections that never attach a transport (ASP.NET: 15 s).
  std::chrono::seconds disconnectTimeout{15};
  // Stateful reconnect (WebSockets): a dropped socket may come back within
  // DisconnectTimeout and get every missed message. On by default (ASP.NET: off),
  // since never losing an update is Herald's point; clients still have to ask.
  bool allowStatefulReconnects = true;
  // A long poll with nothing to deliver answers empty after this (ASP.NET: 90 s; the
  // JS client's own poll timeout is 100 s, so this must stay below it).
  std::chrono::seconds longPollTimeout{90};
  // Outbound bytes queued for one connection before it counts as a slow consumer and
  // is closed; keeps one stalled client from holding memory without bound.
  std::size_t maxOutboundQueueBytes = 4ULL * 1024 * 1024;
};

// JWT bearer tokens, read only with AppSettings:EnableAuth (docs/security.md). At least
// one of Secret and PublicKeyFile is required then; both may be set (each token is
// checked with the keys of its own algorithm).
struct JwtSettings {
  // HS256 key: at least 32 bytes, or the server refuses to start (a shorter HMAC key can
  // be brute-forced offline from a single token).
  std::string secret;
  // RS256/ES256: a PEM file of one or more public keys or certificates, each optionally
  // named by a `kid: NAME` line above it (auth/jwt_keys.h).
  std::string publicKeyFile;
  std::string issuer;    // empty: `iss` not checked
  std::string audience;  // empty: `aud` not checked
  // Tolerated clock difference for exp/nbf. 30 s: enough for NTP-synchronised hosts,
  // short enough that an expired token is not honoured for long (ASP.NET's default,
  // 5 minutes, keeps a revoked short-lived token alive for far longer than it lived).
  std::chrono::seconds clockSkew{30};
};

// The external workers' credentials (docs/security.md, docs/workers.md).
struct WorkerSettings {
  // Workers:ApiKeys: keys a worker may send as `Authorization: Bearer` or `X-Api-Key`
  // instead of a JWT with role `worker`; each in clear (16 characters or more) or as
  // `sha256:<hex>` of the key, so the config file need not hold the secret itself.
  std::vector<std::string> apiKeys;
};

struct ConnectionStrings {
  std::string defaultConnection;  // storage::parseConnectionString; empty: <dataDir>/herald.db
  // The Redis backplane (backplane/redis/redis_options.h: StackExchange.Redis's
  // "host:port,password=…" or redis://…). Empty: one node, the in-process backplane.
  std::string redis;
};

// The networked backplane (docs/config.md).
struct BackplaneSettings {
  // Backplane:MaxQueuedPublishBytes: what this node's publishes may hold in memory while
  // Redis is unreachable (sent when it is back, the oldest dropped first past it). 8 MiB is
  // about 10,000 progress updates: a Redis restart's worth of a busy node; a job's updates
  // dropped here are filled in from the store by the receivers anyway.
  std::size_t maxQueuedPublishBytes = 8ULL * 1024 * 1024;
};

struct ServerSettings {
  std::string host = "localhost";
  unsigned short port = 5000;
  std::string dataDir = "./data";
  int ioThreads = 0;  // 0: one per CPU the process may run on (affinity mask)
  // Where SQLite work runs. true: on a thread of its own (store work never delays
  // sockets, and runs beside the I/O threads on a multi-core host). false: on the first
  // I/O thread, between socket events (no thread hand-off per report; a long store
  // operation delays that thread's sockets). Unset ("auto", the default): a thread of
  // its own when the process may run on more than one CPU, else the I/O thread — on one
  // core the two threads only take turns, and measured there the shared thread spends
  // 3-7 % less CPU per delivery with a p99 several times lower (docs/performance.md).
  std::optional<bool> dedicatedStoreThread;
  // SQLite copies its write-ahead log back into the database file every this many pages
  // (SQLite's default, 1,000). Fewer, longer checkpoints cost less CPU per write and
  // raise the small-group ceiling, but each one holds up the store thread longer (and,
  // on one CPU, the sockets): measured in docs/performance.md.
  int sqliteCheckpointPages = 1000;
  // Largest HTTP request body accepted by the REST API and transports.
  std::size_t maxHttpBodyBytes = 1024ULL * 1024;
  // How long shutdown waits for in-flight HTTP requests to finish.
  std::chrono::seconds shutdownGrace{5};
};

// Limits that keep one client from hurting others (docs/operations.md, "Abuse limits").
// 0 turns a limit off. The defaults leave room for any well-behaved client and for
// many of them behind one NAT address; bench/run raises them for its 19,000 connections
// from one address. Per-user limits count an authenticated caller by its user id and an
// anonymous one by its IP address.
struct LimitsSettings {
  // Hub connections on this node, negotiated (connected or not) until disposed: bounds
  // the memory and file descriptors all clients together can hold.
  std::size_t maxConnections = 100000;
  // The same from one IP address (IPv6: one /64).
  std::size_t maxConnectionsPerIp = 1000;
  // The same for one authenticated user, from wherever.
  std::size_t maxConnectionsPerUser = 100;
  // Negotiates (and WebSocket connections that skip negotiation) per IP address per
  // second, with this many at once: a reconnect storm of one office gets through in a
  // few seconds; a loop of negotiates cannot fill memory with connections that never
  // connect.
  double negotiatesPerIpPerSecond = 50;
  double negotiateBurstPerIp = 200;
  // Hub invocations per connection per second, and the burst (a page subscribing to its
  // jobs at start). An invocation over the limit is answered with a completion error;
  // a connection that stays over it for InvocationAbuseCloseSeconds is closed (0: never).
  double invocationsPerConnectionPerSecond = 100;
  double invocationBurstPerConnection = 200;
  int invocationAbuseCloseSeconds = 10;
  // Groups one connection may be in (jobs, videos, its user, the dashboard): bounds the
  // memory one connection holds in the group registry.
  std::size_t maxGroupsPerConnection = 1000;
  // REST API (/api/...) requests per user (anonymous: per IP) per second, and the burst.
  double restRequestsPerUserPerSecond = 1000;
  double restBurstPerUser = 2000;
  // Whether a burst was given explicitly; else it follows its rate (config::finalize):
  // four times it for negotiates, twice for invocations and REST requests.
  bool negotiateBurstSet = false;
  bool invocationBurstSet = false;
  bool restBurstSet = false;
};

struct StorageSettings {
  // Storage:PoolSize: store connections, each with a thread of its own (a lane: a job's
  // writes always take its video's lane, so its reports stay in order; see
  // jobs/progress_service.h). Unset: 1 for SQLite (one writer at a time anyway, so more
  // connections would only queue for its lock) and 4 for MariaDB/MySQL (each store call
  // is a network round trip; four let one node's round trips for different jobs overlap
  // while keeping the database's connection count small). SQLite in memory takes 1 only
  // (each connection would be a database of its own).
  std::optional<int> poolSize;
  // Storage:Durability, what a 2xx promises about a power cut or OS crash (a process crash,
  // kill -9, loses nothing either way). full: SQLite fsyncs every commit (synchronous=FULL
  // in WAL mode), so an answered report survives a power cut; group commit pays one fsync
  // per batch of reports. normal: no fsync per commit (synchronous=NORMAL); a power cut may
  // lose the last commits (whole transactions). Default full: Herald's promise is that an
  // acknowledged update is never lost, and the measured cost with group commit is small
  // (docs/performance.md, "Durability"). MariaDB: the server's
  // innodb_flush_log_at_trx_commit decides (1 is full); Herald cannot set it.
  std::string durability = "full";
};

struct LoggingSettings {
  // text: one human-readable line per event; json: one JSON object per line (timestamp
  // ISO-8601 UTC, level, logger, thread, message) for log shippers.
  std::string format = "text";
};

// Several nodes behind a balancer with no affinity (docs/deploy.md). A cluster member needs
// Cluster:Secret, or it stops at start.
struct ClusterSettings {
  // Cluster:Enabled; unset, any other non-empty Cluster:* key implies it (config::finalize).
  bool enabled = false;
  bool enabledSet = false;
  // Cluster:Secret, decoded: the key every node signs connection tokens and forwarded
  // requests with. At least 32 random bytes, given as base64 (standard or URL-safe):
  // `openssl rand -base64 32`. Shared by every node and only by them.
  std::string secret;
  // Cluster:NodeUrl: http://HOST:PORT where peers reach this node (forwarded long polls,
  // SSE streams and sends). Unset: http://Server:Host:PORT with the bound port, which only
  // works when Server:Host is an address peers can reach (a wildcard stops the start).
  std::string nodeUrl;
  // Cluster:Nodes: the peers' NodeUrls. When set, a request is forwarded only to a node in
  // this list (defence in depth; connection tokens are signed anyway). Empty: any.
  std::vector<std::string> nodes;
};

struct Config {
  AppSettings app;
  LoggingSettings logging;
  SignalRSettings signalr;
  JwtSettings jwt;
  WorkerSettings workers;
  ConnectionStrings connectionStrings;
  BackplaneSettings backplane;
  ServerSettings server;
  StorageSettings storage;
  JobSettings jobs;
  PipelineSettings pipeline;
  LimitsSettings limits;
  ClusterSettings cluster;
};

}  // namespace herald::config
