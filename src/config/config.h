#pragma once
// Herald's configuration as plain structs, with defaults and why they are what they are.
// Loaded once at start-up (load.cpp): appsettings.json, then `Section__Key` environment
// variables, then command-line flags. Read-only afterwards, so any thread may read it.
#include <chrono>
#include <cstddef>
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
  std::string webRoot;  // empty: the web/ folder next to the binary's source tree
  // file:// URLs and absolute paths in ingest requests. Default: on in development,
  // off in production, where reading server files on a client's say-so is a hazard.
  bool allowLocalFiles = true;
  bool allowLocalFilesSet = false;
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
};

struct PipelineSettings {
  std::string ffmpeg = "ffmpeg";
  std::string ffprobe = "ffprobe";
  std::string ytDlp = "yt-dlp";
  // Largest download accepted; bounds disk use per ingest.
  std::size_t maxDownloadBytes = 2ULL * 1024 * 1024 * 1024;
  int downloadTimeoutSeconds = 600;
  int embeddingBatchSize = 16;
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
  std::string redis;
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

struct LoggingSettings {
  // text: one human-readable line per event; json: one JSON object per line (timestamp
  // ISO-8601 UTC, level, logger, thread, message) for log shippers.
  std::string format = "text";
};

struct Config {
  AppSettings app;
  LoggingSettings logging;
  SignalRSettings signalr;
  JwtSettings jwt;
  WorkerSettings workers;
  ConnectionStrings connectionStrings;
  ServerSettings server;
  JobSettings jobs;
  PipelineSettings pipeline;
};

}  // namespace herald::config
