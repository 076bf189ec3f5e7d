#include "config/load.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string_view>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "core/address_policy.h"
#include "core/ip_network.h"
#include "core/strings.h"

extern char** environ;

namespace herald::config {
namespace {

namespace json = boost::json;

// Every setting is reached through one setter taking its text form, so that JSON and
// environment values go through the same parsing and the same error messages.
bool parseBool(const std::string& key, const std::string& v) {
  auto l = core::toLower(v);
  if (l == "true" || l == "1") return true;
  if (l == "false" || l == "0") return false;
  throw ConfigError("config key " + key + ": expected true or false, got '" + v + "'");
}

long long parseInt(const std::string& key, const std::string& v, long long min, long long max) {
  try {
    std::size_t pos = 0;
    long long n = std::stoll(v, &pos);
    if (pos != v.size()) throw std::invalid_argument("trailing");
    if (n < min || n > max) throw std::out_of_range("range");
    return n;
  } catch (const std::exception&) {
    throw ConfigError("config key " + key + ": expected an integer in [" + std::to_string(min) +
                      ", " + std::to_string(max) + "], got '" + v + "'");
  }
}

// A ';'-separated list (how arrays arrive from JSON and environment alike), items trimmed.
// `separators`: more characters that end an item (",": lists written by hand).
std::vector<std::string> splitList(const std::string& v, std::string_view separators = ";") {
  std::vector<std::string> items;
  std::string cur;
  for (char ch : v + ";") {
    if (ch == ';' || separators.find(ch) != std::string_view::npos) {
      while (!cur.empty() && cur.back() == ' ') cur.pop_back();
      if (!cur.empty()) items.push_back(cur);
      cur.clear();
    } else if (ch != ' ' || !cur.empty()) {
      cur += ch;
    }
  }
  return items;
}

// Sets one Limits:* setting. Returns false for an unknown key.
bool setLimit(LimitsSettings& l, const std::string& full, const std::string& k,
              const std::string& v) {
  constexpr long long kMaxCount = 10'000'000;
  constexpr long long kMaxRate = 100'000'000;
  auto count = [&] { return static_cast<std::size_t>(parseInt(full, v, 0, kMaxCount)); };
  auto rate = [&] { return static_cast<double>(parseInt(full, v, 0, kMaxRate)); };
  if (k == "maxconnections")
    l.maxConnections = count();
  else if (k == "maxconnectionsperip")
    l.maxConnectionsPerIp = count();
  else if (k == "maxconnectionsperuser")
    l.maxConnectionsPerUser = count();
  else if (k == "negotiatesperippersecond")
    l.negotiatesPerIpPerSecond = rate();
  else if (k == "negotiateburstperip") {
    l.negotiateBurstPerIp = static_cast<double>(parseInt(full, v, 1, kMaxRate));
    l.negotiateBurstSet = true;
  } else if (k == "invocationsperconnectionpersecond")
    l.invocationsPerConnectionPerSecond = rate();
  else if (k == "invocationburstperconnection") {
    l.invocationBurstPerConnection = static_cast<double>(parseInt(full, v, 1, kMaxRate));
    l.invocationBurstSet = true;
  } else if (k == "invocationabusecloseseconds")
    l.invocationAbuseCloseSeconds = static_cast<int>(parseInt(full, v, 0, 3600));
  else if (k == "maxgroupsperconnection")
    l.maxGroupsPerConnection = count();
  else if (k == "restrequestsperuserpersecond")
    l.restRequestsPerUserPerSecond = rate();
  else if (k == "restburstperuser") {
    l.restBurstPerUser = static_cast<double>(parseInt(full, v, 1, kMaxRate));
    l.restBurstSet = true;
  } else
    return false;
  return true;
}

// Standard or URL-safe base64, padding optional; nullopt for anything else (whitespace
// included): a secret pasted wrongly must stop the start, not become a weaker key.
std::optional<std::string> decodeBase64(std::string v) {
  while (!v.empty() && v.back() == '=') v.pop_back();
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : v) {
    int d = -1;
    if (ch >= 'A' && ch <= 'Z')
      d = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      d = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      d = ch - '0' + 52;
    else if (ch == '+' || ch == '-')
      d = 62;
    else if (ch == '/' || ch == '_')
      d = 63;
    if (d < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character carries no byte
  return out;
}

// Whether `url` is http://HOST:PORT (a name, IPv4 or [IPv6], an explicit port, no path):
// the only form a node forwards to.
bool nodeUrlValid(const std::string& url) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) return false;
  auto rest = url.substr(prefix.size());
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return false;
  auto host = rest.substr(0, colon);
  auto port = rest.substr(colon + 1);
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return false;
  }
  if (std::stoi(port) < 1 || std::stoi(port) > 65535) return false;
  if (host.front() == '[') return host.back() == ']' && host.size() > 2;
  return std::all_of(host.begin(), host.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '-';
  });
}

// Sets one Cluster:* setting. Returns false for an unknown key.
bool setCluster(ClusterSettings& cl, const std::string& full, const std::string& k,
                const std::string& v) {
  if (k == "enabled") {
    cl.enabled = parseBool(full, v);
    cl.enabledSet = true;
  } else if (v.empty()) {
    // An empty value (config/example.json lists every key) sets nothing.
    if (k != "secret" && k != "nodeurl" && k != "nodes") return false;
  } else if (k == "secret") {
    auto bytes = decodeBase64(v);
    if (!bytes)
      throw ConfigError(full + ": not base64 (generate one with openssl rand -base64 32)");
    if (bytes->size() < 32) {
      throw ConfigError(full + ": at least 32 random bytes are required, got " +
                        std::to_string(bytes->size()) + " (openssl rand -base64 32)");
    }
    cl.secret = std::move(*bytes);
  } else if (k == "nodeurl") {
    if (!nodeUrlValid(v)) throw ConfigError(full + ": expected http://HOST:PORT, got '" + v + "'");
    cl.nodeUrl = v;
  } else if (k == "nodes") {
    cl.nodes = splitList(v);
    for (const auto& n : cl.nodes) {
      if (!nodeUrlValid(n)) {
        std::string message = full;
        message.append(": expected http://HOST:PORT, got '").append(n).append("'");
        throw ConfigError(message);
      }
    }
  } else {
    return false;
  }
  return true;
}

// Sets one scalar setting. Returns false for an unknown key (ignored, as ASP.NET does).
bool setScalar(Config& c, const std::string& section, const std::string& key,
               const std::string& v) {
  const std::string full = section + ":" + key;
  auto s = core::toLower(section);
  auto k = core::toLower(key);
  if (s == "appsettings") {
    if (k == "enablewebsockets")
      c.app.enableWebSockets = parseBool(full, v);
    else if (k == "enablebackgroundjobs")
      c.app.enableBackgroundJobs = parseBool(full, v);
    else if (k == "autotranscribe")
      c.app.autoTranscribe = parseBool(full, v);
    else if (k == "autogenerateembeddings")
      c.app.autoGenerateEmbeddings = parseBool(full, v);
    else if (k == "enableauth")
      c.app.enableAuth = parseBool(full, v);
    else if (k == "isproduction")
      c.app.isProduction = parseBool(full, v);
    else if (k == "webroot")
      c.app.webRoot = v;
    else if (k == "allowlocalfiles") {
      c.app.allowLocalFiles = parseBool(full, v);
      c.app.allowLocalFilesSet = true;
    } else if (k == "allowprivatenetworkdownloads") {
      c.app.allowPrivateNetworkDownloads = parseBool(full, v);
    } else if (k == "localfileroots") {
      c.app.localFileRoots = splitList(v);
    } else if (k == "trustedproxies") {
      c.app.trustedProxies = splitList(v, ";,");
      for (const auto& entry : c.app.trustedProxies) {
        // Refused rather than skipped: a proxy left out makes all its clients one address
        // to the per-address limits, and a typo in a mask could trust far too many peers.
        if (!core::parseIpNetwork(entry)) {
          std::string message = full;
          message.append(": '").append(entry).append(
              "' is not an IP address or CIDR network (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8; no "
              "bits set past the prefix)");
          throw ConfigError(message);
        }
      }
    } else if (k == "allowedorigins") {
      c.app.allowedOrigins.clear();
      std::string cur;
      for (char ch : v + ";") {
        if (ch == ';' || ch == ',') {
          if (!cur.empty()) c.app.allowedOrigins.push_back(cur);
          cur.clear();
        } else if (ch != ' ') {
          cur += ch;
        }
      }
    } else if (k == "allowedhosts") {
      // "a.example;b.example" as ASP.NET Core writes it (or a JSON array, joined the same).
      c.app.allowedHosts.clear();
      c.app.allowedHostsSet = true;
      std::string cur;
      for (char ch : v + ";") {
        if (ch == ';' || ch == ',') {
          if (!cur.empty()) c.app.allowedHosts.push_back(core::toLower(cur));
          cur.clear();
        } else if (ch != ' ') {
          cur += ch;
        }
      }
      for (const auto& h : c.app.allowedHosts) {
        // A scheme, path or port can never match a Host name: the operator meant something
        // else, and a filter that matches nothing would refuse every request.
        const bool bracketed = !h.empty() && h.front() == '[';
        if (h.find('/') != std::string::npos || (!bracketed && h.find(':') != std::string::npos) ||
            (bracketed && h.back() != ']') ||
            (h.find('*') != std::string::npos && h != "*" && h.rfind("*.", 0) != 0)) {
          std::string message = full;
          message.append(": '").append(h).append(
              "' is not a host name (no scheme, port or path; `*` or `*.domain` for wildcards)");
          throw ConfigError(message);
        }
      }
      if (c.app.allowedHosts.empty()) {
        throw ConfigError(full + ": empty (every request would be refused); use * for any host");
      }
    } else
      return false;
    return true;
  }
  if (s == "signalr") {
    if (k == "enabledetailederrors") {
      c.signalr.enableDetailedErrors = parseBool(full, v);
      c.signalr.detailedErrorsSet = true;
    } else if (k == "handshaketimeout") {
      c.signalr.handshakeTimeout = std::chrono::seconds(parseInt(full, v, 1, 3600));
    } else if (k == "keepaliveinterval") {
      c.signalr.keepAliveInterval = std::chrono::seconds(parseInt(full, v, 1, 3600));
    } else if (k == "clienttimeoutinterval") {
      c.signalr.clientTimeoutInterval = std::chrono::seconds(parseInt(full, v, 1, 86400));
    } else if (k == "maximumreceivemessagesize") {
      c.signalr.maximumReceiveMessageSize =
          static_cast<std::size_t>(parseInt(full, v, 64, 64LL * 1024 * 1024));
    } else if (k == "disconnecttimeout") {
      c.signalr.disconnectTimeout = std::chrono::seconds(parseInt(full, v, 1, 3600));
    } else if (k == "allowstatefulreconnects") {
      c.signalr.allowStatefulReconnects = parseBool(full, v);
    } else if (k == "longpolltimeout") {
      c.signalr.longPollTimeout = std::chrono::seconds(parseInt(full, v, 1, 99));
    } else if (k == "maxoutboundqueuebytes") {
      c.signalr.maxOutboundQueueBytes =
          static_cast<std::size_t>(parseInt(full, v, 4096, 1LL << 32));
    } else
      return false;
    return true;
  }
  if (s == "jobs") {
    if (k == "workercount")
      c.jobs.workerCount = static_cast<int>(parseInt(full, v, 1, 64));
    else if (k == "maxprogressupdatespersecond")
      c.jobs.maxProgressUpdatesPerSecond = static_cast<double>(parseInt(full, v, 1, 10000));
    else if (k == "maxattempts")
      c.jobs.maxAttempts = static_cast<int>(parseInt(full, v, 1, 100));
    else if (k == "retrybasedelayms")
      c.jobs.retryBaseDelayMs = static_cast<int>(parseInt(full, v, 0, 3600000));
    else if (k == "leaseseconds")
      c.jobs.leaseSeconds = static_cast<int>(parseInt(full, v, 1, 3600));
    else if (k == "maxmetadatabytes")
      // At least 1 KB: the pipeline's own jobs carry their source URL and path there.
      c.jobs.maxMetadataBytes = static_cast<std::size_t>(parseInt(full, v, 1024, 16LL << 20));
    else if (k == "maxcustomstagespervideo")
      c.jobs.maxCustomStagesPerVideo = static_cast<int>(parseInt(full, v, 0, 1000));
    else
      return false;
    return true;
  }
  if (s == "herald") {
    if (k != "nodeid") return false;
    if (v.empty() || v.size() > 200) throw ConfigError("config key " + full + ": 1-200 characters");
    c.jobs.nodeId = v;
    return true;
  }
  if (s == "pipeline") {
    if (k == "ffmpeg")
      c.pipeline.ffmpeg = v;
    else if (k == "ffprobe")
      c.pipeline.ffprobe = v;
    else if (k == "ytdlp")
      c.pipeline.ytDlp = v;
    else if (k == "maxdownloadbytes")
      c.pipeline.maxDownloadBytes = static_cast<std::size_t>(parseInt(full, v, 1024, 1LL << 40));
    else if (k == "maxmediabytes")
      // At least 1 MiB: below it no ingest could ever start.
      c.pipeline.maxMediaBytes =
          static_cast<std::uint64_t>(parseInt(full, v, 1LL << 20, 1LL << 50));
    else if (k == "downloadtimeoutseconds")
      c.pipeline.downloadTimeoutSeconds = static_cast<int>(parseInt(full, v, 1, 86400));
    else if (k == "embeddingbatchsize")
      c.pipeline.embeddingBatchSize = static_cast<int>(parseInt(full, v, 1, 4096));
    else if (k == "testresolverhosts")
      c.pipeline.testResolverHosts = splitList(v);
    else
      return false;
    return true;
  }
  if (s == "jwt") {
    if (k == "secret")
      c.jwt.secret = v;
    else if (k == "publickeyfile")
      c.jwt.publicKeyFile = v;
    else if (k == "issuer")
      c.jwt.issuer = v;
    else if (k == "audience")
      c.jwt.audience = v;
    else if (k == "clockskewseconds")
      c.jwt.clockSkew = std::chrono::seconds(parseInt(full, v, 0, 300));
    else
      return false;
    return true;
  }
  if (s == "limits") return setLimit(c.limits, full, k, v);
  if (s == "cluster") return setCluster(c.cluster, full, k, v);
  if (s == "workers") {
    if (k != "apikeys") return false;
    // ';' only: a key in clear may contain a ','. Spaces around a key are trimmed (a key
    // is checked for its length and form when the authenticator is built).
    c.workers.apiKeys = splitList(v);
    return true;
  }
  if (s == "logging") {
    if (k != "format") return false;
    auto f = core::toLower(v);
    if (f != "text" && f != "json") {
      throw ConfigError(full + " must be text or json, got '" + v + "'");
    }
    c.logging.format = f;
    return true;
  }
  if (s == "storage") {
    if (k == "poolsize") {
      c.storage.poolSize = static_cast<int>(parseInt(full, v, 1, 64));
      return true;
    }
    if (k != "durability") return false;
    auto d = core::toLower(v);
    if (d != "full" && d != "normal") {
      throw ConfigError(full + " must be full or normal, got '" + v + "'");
    }
    c.storage.durability = d;
    return true;
  }
  if (s == "backplane") {
    if (k != "maxqueuedpublishbytes") return false;
    c.backplane.maxQueuedPublishBytes =
        static_cast<std::size_t>(parseInt(full, v, 64LL * 1024, 1LL << 32));
    return true;
  }
  if (s == "connectionstrings") {
    if (k == "default")
      c.connectionStrings.defaultConnection = v;
    else if (k == "redis")
      c.connectionStrings.redis = v;
    else
      return false;
    return true;
  }
  if (s == "server") {
    if (k == "datadir")
      c.server.dataDir = v;
    else if (k == "iothreads")
      c.server.ioThreads = static_cast<int>(parseInt(full, v, 0, 256));
    else if (k == "dedicatedstorethread")
      c.server.dedicatedStoreThread =
          core::toLower(v) == "auto" ? std::nullopt : std::optional<bool>(parseBool(full, v));
    else if (k == "sqlitecheckpointpages")
      c.server.sqliteCheckpointPages = static_cast<int>(parseInt(full, v, 100, 1'000'000));
    else if (k == "maxhttpbodybytes")
      c.server.maxHttpBodyBytes = static_cast<std::size_t>(parseInt(full, v, 1024, 1LL << 30));
    else
      return false;
    return true;
  }
  return false;
}

std::string scalarText(const std::string& key, const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  if (v.is_double()) return std::to_string(static_cast<long long>(v.as_double()));
  throw ConfigError("config key " + key + ": expected a scalar value");
}

}  // namespace

void applyJson(Config& config, const std::string& jsonText) {
  boost::system::error_code ec;
  auto doc = json::parse(jsonText, ec);
  if (ec) throw ConfigError("appsettings: malformed JSON: " + ec.message());
  if (!doc.is_object()) throw ConfigError("appsettings: the document must be a JSON object");
  for (const auto& [sectionName, section] : doc.as_object()) {
    std::string sec(sectionName);
    if (core::iequals(sec, "Urls") && section.is_string()) {
      applyUrls(config, std::string(section.as_string()));
      continue;
    }
    if (!section.is_object()) continue;  // e.g. "Logging": not ours
    for (const auto& [keyName, value] : section.as_object()) {
      std::string key(keyName);
      std::string where = sec;  // "Section:Key", for error messages
      where.append(":").append(key);
      if (value.is_array()) {
        std::string joined;
        for (const auto& item : value.as_array()) {
          if (!joined.empty()) joined += ';';
          joined += scalarText(where, item);
        }
        setScalar(config, sec, key, joined);
      } else if (!value.is_object() && !value.is_null()) {
        setScalar(config, sec, key, scalarText(where, value));
      }
    }
  }
}

void applyEnvironment(Config& config, const std::map<std::string, std::string>& env) {
  std::map<std::string, std::vector<std::string>> arrays;  // AllowedOrigins__0, __1...
  for (const auto& [name, value] : env) {
    if (core::iequals(name, "URLS") || core::iequals(name, "ASPNETCORE_URLS")) {
      applyUrls(config, value);
      continue;
    }
    auto sep = name.find("__");
    if (sep == std::string::npos) continue;
    auto section = name.substr(0, sep);
    auto rest = name.substr(sep + 2);
    auto sep2 = rest.find("__");
    if (sep2 != std::string::npos) {
      arrays[section + "__" + rest.substr(0, sep2)].push_back(value);
      continue;
    }
    setScalar(config, section, rest, value);
  }
  for (const auto& [name, values] : arrays) {
    auto sep = name.find("__");
    std::string joined;
    for (const auto& v : values) joined += (joined.empty() ? "" : ";") + v;
    setScalar(config, name.substr(0, sep), name.substr(sep + 2), joined);
  }
}

std::map<std::string, std::string> processEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    auto name = entry.substr(0, eq);
    if (name.find("__") != std::string::npos || core::iequals(name, "URLS") ||
        core::iequals(name, "ASPNETCORE_URLS")) {
      env[name] = entry.substr(eq + 1);
    }
  }
  return env;
}

void applyUrls(Config& config, const std::string& urls) {
  auto first = urls.substr(0, urls.find(';'));
  const std::string prefix = "http://";
  if (first.rfind(prefix, 0) != 0) {
    throw ConfigError("Urls: only http://HOST:PORT is supported, got '" + first + "'");
  }
  auto hostPort = first.substr(prefix.size());
  if (!hostPort.empty() && hostPort.back() == '/') hostPort.pop_back();
  auto colon = hostPort.rfind(':');
  auto bracket = hostPort.find(']');
  if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket)) {
    config.server.host = hostPort;
    config.server.port = 80;
  } else {
    config.server.host = hostPort.substr(0, colon);
    config.server.port =
        static_cast<unsigned short>(parseInt("Urls", hostPort.substr(colon + 1), 0, 65535));
  }
  if (config.server.host.size() > 2 && config.server.host.front() == '[') {
    config.server.host = config.server.host.substr(1, config.server.host.size() - 2);
  }
  if (config.server.host.empty()) throw ConfigError("Urls: missing host in '" + first + "'");
}

namespace {

// Local roots and the test resolver (docs/security.md "Downloads"): a root that does not
// exist would refuse every file while the operator believes files are allowed; production
// reading files from anywhere is what the roots exist to prevent; and the test resolver
// points every download at loopback, so it must never be on by accident.
void checkDownloadSettings(const Config& config) {
  namespace fs = std::filesystem;
  for (const auto& root : config.app.localFileRoots) {
    std::error_code ec;
    if (root.empty() || root.front() != '/' || !fs::is_directory(root, ec)) {
      throw ConfigError("AppSettings:LocalFileRoots: '" + root +
                        "' is not an absolute path of an existing folder");
    }
  }
  if (config.app.isProduction && config.app.allowLocalFiles && config.app.localFileRoots.empty()) {
    throw ConfigError(
        "AppSettings:AllowLocalFiles=true in production needs AppSettings:LocalFileRoots (the "
        "folders clients may name files in)");
  }
  if (config.pipeline.testResolverHosts.empty()) return;
  // Read from environ, as processEnvironment does (getenv is not thread-safe to tidy).
  bool allowed = false;
  for (char** e = environ; e && *e; ++e) {
    if (std::string_view(*e) == "HERALD_ALLOW_TEST_RESOLVER=1") allowed = true;
  }
  if (!allowed) {
    throw ConfigError(
        "Pipeline:TestResolverHosts is a test hook that sends every download to loopback; it "
        "needs HERALD_ALLOW_TEST_RESOLVER=1 in the environment");
  }
  for (const auto& entry : config.pipeline.testResolverHosts) {
    auto eq = entry.find('=');
    auto name = core::toLower(entry.substr(0, eq));
    if (eq == std::string::npos || !name.ends_with(".test") || name.size() <= 5 ||
        !core::numericHost(entry.substr(eq + 1))) {
      throw ConfigError("Pipeline:TestResolverHosts: '" + entry +
                        "' is not NAME.test=ADDRESS (names must end in .test)");
    }
  }
}

// A cluster member signs connection tokens and forwarded requests with Cluster:Secret: one
// without it cannot be part of a cluster, and must not quietly run as a lone node behind a
// balancer that spreads its clients' requests (every request off the owner would 404).
// Peers reach it at Cluster:NodeUrl, which can be derived only from a concrete address.
void checkClusterSettings(Config& config) {
  auto& cl = config.cluster;
  if (!cl.enabledSet) cl.enabled = !cl.secret.empty() || !cl.nodeUrl.empty() || !cl.nodes.empty();
  if (!cl.enabled) return;
  if (cl.secret.empty()) {
    throw ConfigError(
        "Cluster: a cluster node needs Cluster:Secret, at least 32 random bytes as base64, the "
        "same on every node (openssl rand -base64 32)");
  }
  const auto host = core::toLower(config.server.host);
  const bool wildcard = host == "0.0.0.0" || host == "::" || host == "*" || host == "+" ||
                        host == "[::]" || host.empty();
  if (cl.nodeUrl.empty() && wildcard) {
    throw ConfigError("Cluster:NodeUrl is required when Server:Host is a wildcard (" +
                      config.server.host + "): the http://HOST:PORT peers reach this node at");
  }
  const auto& id = config.jobs.nodeId;
  if (!std::all_of(id.begin(), id.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '.' || ch == '-' || ch == '_' || ch == ':';
      })) {
    // It is sent in the X-Herald-Node header of every answer.
    throw ConfigError(
        "Herald:NodeId: a cluster node's id may hold letters, digits and . - _ : only");
  }
}

}  // namespace

void finalize(Config& config) {
  // A setting the server cannot honour stops it at start (spec section 7): EnableAuth
  // with no key would refuse every token (or, worse, tempt someone to make it lenient).
  // The keys themselves are read and checked when the authenticator is built
  // (server.cpp): an unreadable file or a wrong key type stops the server there.
  if (config.app.enableAuth) {
    if (config.jwt.secret.empty() && config.jwt.publicKeyFile.empty()) {
      throw ConfigError(
          "AppSettings:EnableAuth=true needs Jwt:Secret (HS256) or Jwt:PublicKeyFile "
          "(RS256/ES256)");
    }
    if (!config.jwt.secret.empty() && config.jwt.secret.size() < 32) {
      throw ConfigError("Jwt:Secret must be at least 32 bytes (256 bits) for HS256, got " +
                        std::to_string(config.jwt.secret.size()));
    }
  }
  // A burst not given follows its rate (twice it), so raising a rate alone is enough; one
  // given explicitly must hold at least one token.
  auto& l = config.limits;
  if (!l.negotiateBurstSet) l.negotiateBurstPerIp = std::max(1.0, 4 * l.negotiatesPerIpPerSecond);
  if (!l.invocationBurstSet) {
    l.invocationBurstPerConnection = std::max(1.0, 2 * l.invocationsPerConnectionPerSecond);
  }
  if (!l.restBurstSet) l.restBurstPerUser = std::max(1.0, 2 * l.restRequestsPerUserPerSecond);
  if (!config.app.allowLocalFilesSet) config.app.allowLocalFiles = !config.app.isProduction;
  if (!config.app.allowedHostsSet) {
    // Development answers whatever name a developer types; production answers its own
    // names only, so a rebound DNS name cannot make a browser talk to it.
    if (!config.app.isProduction) {
      config.app.allowedHosts = {"*"};
    } else {
      config.app.allowedHosts = {"localhost", "127.0.0.1", "[::1]"};
      auto host = core::toLower(config.server.host);
      if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
      const bool wildcard = host == "0.0.0.0" || host == "[::]" || host == "*" || host == "+";
      if (!wildcard && std::find(config.app.allowedHosts.begin(), config.app.allowedHosts.end(),
                                 host) == config.app.allowedHosts.end()) {
        config.app.allowedHosts.push_back(host);
      }
    }
  }
  checkDownloadSettings(config);
  checkClusterSettings(config);
  if (!config.signalr.detailedErrorsSet) {
    config.signalr.enableDetailedErrors = !config.app.isProduction;
  }
}

bool refusePrivateDownloads(const Config& config) {
  return config.app.isProduction && !config.app.allowPrivateNetworkDownloads;
}

core::MediaUrlPolicy mediaUrlPolicy(const Config& config) {
  core::MediaUrlPolicy policy;
  policy.allowLocalFiles = config.app.allowLocalFiles;
  policy.refusePrivateHosts = refusePrivateDownloads(config);
  return policy;
}

}  // namespace herald::config
