#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/load.h"

using namespace herald::config;

TEST(Config, DefaultsMatchTheSpec) {
  Config c;
  finalize(c);
  EXPECT_EQ(c.server.port, 5000);
  EXPECT_EQ(c.signalr.keepAliveInterval.count(), 15);
  EXPECT_EQ(c.signalr.clientTimeoutInterval.count(), 60);
  EXPECT_EQ(c.signalr.handshakeTimeout.count(), 30);
  EXPECT_EQ(c.signalr.maximumReceiveMessageSize, 102400u);
  EXPECT_TRUE(c.signalr.enableDetailedErrors);
}

TEST(Config, JsonThenEnvironmentOverrides) {
  Config c;
  applyJson(c, R"({"AppSettings":{"EnableAuth":true,"IsProduction":true,
                   "AllowedOrigins":["http://a","http://b"]},
                   "SignalR":{"KeepAliveInterval":20},
                   "ConnectionStrings":{"Default":"Data Source=/tmp/x.db"},
                   "Urls":"http://127.0.0.1:6000","Logging":{"LogLevel":{"Default":"Info"}}})");
  applyEnvironment(c, {{"SignalR__KeepAliveInterval", "10"},
                       {"appsettings__enableauth", "false"},
                       {"AppSettings__AllowedOrigins__0", "http://c"},
                       {"PATH", "/bin"}});
  finalize(c);
  EXPECT_FALSE(c.app.enableAuth);
  EXPECT_TRUE(c.app.isProduction);
  EXPECT_FALSE(c.signalr.enableDetailedErrors);  // production default
  EXPECT_EQ(c.signalr.keepAliveInterval.count(), 10);
  EXPECT_EQ(c.app.allowedOrigins, std::vector<std::string>{"http://c"});
  EXPECT_EQ(c.connectionStrings.defaultConnection, "Data Source=/tmp/x.db");
  EXPECT_EQ(c.server.host, "127.0.0.1");
  EXPECT_EQ(c.server.port, 6000);
}

TEST(Config, EnableAuthNeedsAKey) {
  // Nothing fails open: EnableAuth=true with no key, or with an HS256 secret short enough
  // to brute-force, must not start.
  Config c;
  applyJson(c, R"({"AppSettings":{"EnableAuth":true}})");
  try {
    finalize(c);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("needs Jwt:Secret"), std::string::npos) << e.what();
  }
  Config shortSecret;
  applyEnvironment(shortSecret,
                   {{"AppSettings__EnableAuth", "true"}, {"Jwt__Secret", "0123456789abcdef"}});
  try {
    finalize(shortSecret);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("at least 32 bytes"), std::string::npos) << e.what();
  }
  Config ok;
  applyJson(ok, R"({"AppSettings":{"EnableAuth":true},
                    "Jwt":{"Secret":"0123456789abcdef0123456789abcdef","ClockSkewSeconds":45},
                    "Workers":{"ApiKeys":["k1-0123456789abcdef","sha256:00ff"]}})");
  finalize(ok);
  EXPECT_EQ(ok.jwt.clockSkew.count(), 45);
  EXPECT_EQ(ok.workers.apiKeys, (std::vector<std::string>{"k1-0123456789abcdef", "sha256:00ff"}));
  // From the environment: ';'-separated, items trimmed, empty ones dropped; a ',' is part
  // of a key.
  applyEnvironment(ok, {{"Workers__ApiKeys", " k2-0123,456789abcdef ;; sha256:11ee;"}});
  EXPECT_EQ(ok.workers.apiKeys, (std::vector<std::string>{"k2-0123,456789abcdef", "sha256:11ee"}));
  Config skew;
  EXPECT_THROW(applyJson(skew, R"({"Jwt":{"ClockSkewSeconds":301}})"), ConfigError);
}

TEST(Config, BadValuesNameTheirKey) {
  Config c;
  try {
    applyJson(c, R"({"SignalR":{"KeepAliveInterval":"soon"}})");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("SignalR:KeepAliveInterval"), std::string::npos);
  }
  EXPECT_THROW(applyJson(c, "{broken"), ConfigError);
  EXPECT_THROW(applyEnvironment(c, {{"AppSettings__EnableAuth", "maybe"}}), ConfigError);
  EXPECT_THROW(applyUrls(c, "https://x:1"), ConfigError);
}

TEST(Config, TheDocumentedExampleLoadsAndMatchesTheDefaults) {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/config/example.json");
  ASSERT_TRUE(in) << "config/example.json is missing";
  std::stringstream ss;
  ss << in.rdbuf();
  Config fromExample;
  applyJson(fromExample, ss.str());
  finalize(fromExample);
  Config defaults;
  finalize(defaults);
  EXPECT_EQ(fromExample.signalr.keepAliveInterval, defaults.signalr.keepAliveInterval);
  EXPECT_EQ(fromExample.signalr.maximumReceiveMessageSize,
            defaults.signalr.maximumReceiveMessageSize);
  EXPECT_EQ(fromExample.signalr.maxOutboundQueueBytes, defaults.signalr.maxOutboundQueueBytes);
  EXPECT_EQ(fromExample.jobs.workerCount, defaults.jobs.workerCount);
  EXPECT_EQ(fromExample.jobs.retryBaseDelayMs, defaults.jobs.retryBaseDelayMs);
  EXPECT_EQ(fromExample.pipeline.maxDownloadBytes, defaults.pipeline.maxDownloadBytes);
  EXPECT_EQ(fromExample.server.port, defaults.server.port);
  EXPECT_EQ(fromExample.server.dedicatedStoreThread, defaults.server.dedicatedStoreThread);
  EXPECT_EQ(fromExample.server.sqliteCheckpointPages, defaults.server.sqliteCheckpointPages);
  EXPECT_EQ(fromExample.connectionStrings.defaultConnection,
            defaults.connectionStrings.defaultConnection);
  EXPECT_EQ(fromExample.server.dataDir, defaults.server.dataDir);
  const auto& a = fromExample.limits;
  const auto& b = defaults.limits;
  EXPECT_EQ(a.maxConnections, b.maxConnections);
  EXPECT_EQ(a.maxConnectionsPerIp, b.maxConnectionsPerIp);
  EXPECT_EQ(a.maxConnectionsPerUser, b.maxConnectionsPerUser);
  EXPECT_EQ(a.negotiatesPerIpPerSecond, b.negotiatesPerIpPerSecond);
  EXPECT_EQ(a.negotiateBurstPerIp, b.negotiateBurstPerIp);
  EXPECT_EQ(a.invocationsPerConnectionPerSecond, b.invocationsPerConnectionPerSecond);
  EXPECT_EQ(a.invocationBurstPerConnection, b.invocationBurstPerConnection);
  EXPECT_EQ(a.invocationAbuseCloseSeconds, b.invocationAbuseCloseSeconds);
  EXPECT_EQ(a.maxGroupsPerConnection, b.maxGroupsPerConnection);
  EXPECT_EQ(a.restRequestsPerUserPerSecond, b.restRequestsPerUserPerSecond);
  EXPECT_EQ(a.restBurstPerUser, b.restBurstPerUser);
  EXPECT_EQ(fromExample.jwt.clockSkew, defaults.jwt.clockSkew);
  EXPECT_EQ(fromExample.workers.apiKeys, defaults.workers.apiKeys);
  EXPECT_EQ(fromExample.app.trustedProxies, defaults.app.trustedProxies);
  EXPECT_EQ(fromExample.backplane.maxQueuedPublishBytes, defaults.backplane.maxQueuedPublishBytes);
  EXPECT_EQ(fromExample.connectionStrings.redis, defaults.connectionStrings.redis);
}

TEST(Config, BackplaneQueueBoundLoadsAndIsChecked) {
  Config c;
  applyEnvironment(c, {{"Backplane__MaxQueuedPublishBytes", "1048576"},
                       {"ConnectionStrings__Redis", "127.0.0.1:6379,password=x"}});
  EXPECT_EQ(c.backplane.maxQueuedPublishBytes, 1048576u);
  EXPECT_EQ(c.connectionStrings.redis, "127.0.0.1:6379,password=x");
  EXPECT_THROW(applyEnvironment(c, {{"Backplane__MaxQueuedPublishBytes", "10"}}), ConfigError);
}

TEST(Config, LimitsLoadFromJsonAndEnvironmentAndBurstsFollowTheirRates) {
  Config c;
  applyJson(c, R"({"Limits":{"MaxConnectionsPerIp":7,"NegotiatesPerIpPerSecond":10,
                             "InvocationsPerConnectionPerSecond":0}})");
  applyEnvironment(c, {{"Limits__RestRequestsPerUserPerSecond", "30"},
                       {"Limits__RestBurstPerUser", "5"},
                       {"Limits__MaxGroupsPerConnection", "0"}});
  finalize(c);
  EXPECT_EQ(c.limits.maxConnectionsPerIp, 7u);
  EXPECT_EQ(c.limits.negotiatesPerIpPerSecond, 10);
  EXPECT_EQ(c.limits.negotiateBurstPerIp, 40);               // not given: four times the rate
  EXPECT_EQ(c.limits.invocationsPerConnectionPerSecond, 0);  // off
  EXPECT_EQ(c.limits.restRequestsPerUserPerSecond, 30);
  EXPECT_EQ(c.limits.restBurstPerUser, 5);  // given: kept
  EXPECT_EQ(c.limits.maxGroupsPerConnection, 0u);
}

TEST(Config, LimitsRefuseValuesTheServerCannotHonour) {
  for (const char* doc :
       {R"({"Limits":{"MaxConnections":-1}})", R"({"Limits":{"NegotiateBurstPerIp":0}})",
        R"({"Limits":{"InvocationAbuseCloseSeconds":"soon"}})",
        R"({"Limits":{"RestRequestsPerUserPerSecond":1e12}})"}) {
    Config c;
    try {
      applyJson(c, doc);
      ADD_FAILURE() << doc << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("Limits:")) << doc;
    }
  }
}

TEST(ConfigTest, DedicatedStoreThreadIsAutoUnlessSetAndAcceptsAuto) {
  Config c;
  EXPECT_FALSE(c.server.dedicatedStoreThread.has_value()) << "the default is auto";
  applyJson(c, R"({"Server": {"DedicatedStoreThread": false}})");
  EXPECT_EQ(c.server.dedicatedStoreThread, std::optional<bool>(false));
  applyJson(c, R"({"Server": {"DedicatedStoreThread": "TRUE"}})");
  EXPECT_EQ(c.server.dedicatedStoreThread, std::optional<bool>(true));
  applyJson(c, R"({"Server": {"DedicatedStoreThread": "Auto"}})");
  EXPECT_FALSE(c.server.dedicatedStoreThread.has_value());
  EXPECT_THROW(applyJson(c, R"({"Server": {"DedicatedStoreThread": "sometimes"}})"), ConfigError);
}

TEST(ConfigTest, SqliteCheckpointPagesIsBounded) {
  Config c;
  EXPECT_EQ(c.server.sqliteCheckpointPages, 1000) << "SQLite's own default";
  applyJson(c, R"({"Server": {"SqliteCheckpointPages": 20000}})");
  EXPECT_EQ(c.server.sqliteCheckpointPages, 20000);
  EXPECT_THROW(applyJson(c, R"({"Server": {"SqliteCheckpointPages": 10}})"), ConfigError);
  EXPECT_THROW(applyJson(c, R"({"Server": {"SqliteCheckpointPages": "many"}})"), ConfigError);
}

TEST(Config, AllowedHostsDefaultToAnyInDevelopmentAndOwnNamesInProduction) {
  Config dev;
  finalize(dev);
  EXPECT_EQ(dev.app.allowedHosts, std::vector<std::string>{"*"});

  Config prod;
  applyEnvironment(
      prod, {{"AppSettings__IsProduction", "true"}, {"AppSettings__AllowLocalFiles", "false"}});
  applyUrls(prod, "http://Herald.Example:8080");
  finalize(prod);
  EXPECT_EQ(prod.app.allowedHosts,
            (std::vector<std::string>{"localhost", "127.0.0.1", "[::1]", "herald.example"}));

  Config any;
  applyEnvironment(
      any, {{"AppSettings__IsProduction", "true"}, {"AppSettings__AllowLocalFiles", "false"}});
  applyUrls(any, "http://0.0.0.0:8080");
  finalize(any);
  EXPECT_EQ(any.app.allowedHosts, (std::vector<std::string>{"localhost", "127.0.0.1", "[::1]"}));

  Config set;
  applyJson(set, R"({"AppSettings":{"IsProduction":true,"AllowLocalFiles":false,
                     "AllowedHosts":"A.example;*.b.example"}})");
  finalize(set);
  EXPECT_EQ(set.app.allowedHosts, (std::vector<std::string>{"a.example", "*.b.example"}));
}

TEST(Config, AllowedHostsThatCanNeverMatchAreRefused) {
  for (const char* bad : {"http://a.example", "a.example:8080", "a.example/x", "a*.example", ";"}) {
    Config c;
    EXPECT_THROW(applyEnvironment(c, {{"AppSettings__AllowedHosts", bad}}), ConfigError) << bad;
  }
}

TEST(Config, TrustedProxiesAreAddressesOrNetworksAndNoneByDefault) {
  Config defaults;
  finalize(defaults);
  EXPECT_TRUE(defaults.app.trustedProxies.empty());
  Config c;
  applyJson(c, R"({"AppSettings":{"TrustedProxies":["10.0.0.5","fd00::/8"]}})");
  EXPECT_EQ(c.app.trustedProxies, (std::vector<std::string>{"10.0.0.5", "fd00::/8"}));
  applyEnvironment(c, {{"AppSettings__TrustedProxies", "127.0.0.1, 192.168.0.0/16"}});
  EXPECT_EQ(c.app.trustedProxies, (std::vector<std::string>{"127.0.0.1", "192.168.0.0/16"}));
  for (const char* bad : {"proxy.example", "10.0.0.1/8", "10.0.0.0/33", "127.0.0.1;nginx"}) {
    Config b;
    try {
      applyEnvironment(b, {{"AppSettings__TrustedProxies", bad}});
      FAIL() << "expected ConfigError for " << bad;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("AppSettings:TrustedProxies"), std::string::npos);
    }
  }
}

// Download settings (docs/security.md "Downloads").
TEST(Config, DownloadPolicyFollowsProduction) {
  Config dev;
  finalize(dev);
  EXPECT_FALSE(refusePrivateDownloads(dev));
  EXPECT_TRUE(mediaUrlPolicy(dev).allowLocalFiles);
  Config prod;
  applyEnvironment(prod, {{"AppSettings__IsProduction", "true"}});
  finalize(prod);
  EXPECT_TRUE(refusePrivateDownloads(prod));
  EXPECT_TRUE(mediaUrlPolicy(prod).refusePrivateHosts);
  EXPECT_FALSE(mediaUrlPolicy(prod).allowLocalFiles);
  Config allowed;
  applyEnvironment(allowed, {{"AppSettings__IsProduction", "true"},
                             {"AppSettings__AllowPrivateNetworkDownloads", "true"}});
  finalize(allowed);
  EXPECT_FALSE(refusePrivateDownloads(allowed));
}

TEST(Config, LocalFilesInProductionNeedExistingRoots) {
  Config c;
  applyEnvironment(
      c, {{"AppSettings__IsProduction", "true"}, {"AppSettings__AllowLocalFiles", "true"}});
  EXPECT_THROW(finalize(c), ConfigError);
  applyEnvironment(c, {{"AppSettings__LocalFileRoots__0", "/tmp"}});
  EXPECT_NO_THROW(finalize(c));
  EXPECT_EQ(c.app.localFileRoots, std::vector<std::string>{"/tmp"});
  Config missing;
  applyJson(missing, R"({"AppSettings":{"LocalFileRoots":["/no/such/folder"]}})");
  EXPECT_THROW(finalize(missing), ConfigError);
  Config relative;
  applyJson(relative, R"({"AppSettings":{"LocalFileRoots":["media"]}})");
  EXPECT_THROW(finalize(relative), ConfigError);
}

TEST(Config, TheTestResolverNeedsItsEnvironmentFlag) {
  ::unsetenv("HERALD_ALLOW_TEST_RESOLVER");
  Config c;
  applyJson(c, R"({"Pipeline":{"TestResolverHosts":["public.test=192.0.2.1"]}})");
  EXPECT_THROW(finalize(c), ConfigError);
  ::setenv("HERALD_ALLOW_TEST_RESOLVER", "1", 1);
  EXPECT_NO_THROW(finalize(c));
  for (const char* bad :
       {"example.com=192.0.2.1", "public.test", "public.test=nowhere", ".test=1.2.3.4"}) {
    Config b;
    applyEnvironment(b, {{"Pipeline__TestResolverHosts__0", bad}});
    EXPECT_THROW(finalize(b), ConfigError) << bad;
  }
  ::unsetenv("HERALD_ALLOW_TEST_RESOLVER");
}

TEST(Config, DurabilityAndJobLimitsAreNamedSettingsWithCheckedValues) {
  Config c;
  EXPECT_EQ(c.storage.durability, "full");  // a 2xx survives a power cut by default
  EXPECT_EQ(c.jobs.maxMetadataBytes, 16u * 1024);
  EXPECT_EQ(c.jobs.maxCustomStagesPerVideo, 8);
  applyEnvironment(c, {{"Storage__Durability", "Normal"},
                       {"Jobs__MaxMetadataBytes", "4096"},
                       {"Jobs__MaxCustomStagesPerVideo", "2"},
                       {"Pipeline__MaxMediaBytes", "1048576"}});
  EXPECT_EQ(c.storage.durability, "normal");
  EXPECT_EQ(c.jobs.maxMetadataBytes, 4096u);
  EXPECT_EQ(c.jobs.maxCustomStagesPerVideo, 2);
  EXPECT_EQ(c.pipeline.maxMediaBytes, 1048576u);
  // Values the server cannot honour stop it at start, naming the key.
  try {
    applyEnvironment(c, {{"Storage__Durability", "sometimes"}});
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("Storage:Durability must be full or normal"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(applyEnvironment(c, {{"Jobs__MaxMetadataBytes", "100"}}), ConfigError);
  EXPECT_THROW(applyEnvironment(c, {{"Pipeline__MaxMediaBytes", "1000"}}), ConfigError);
}

TEST(Config, ClusterNeedsASecretOfThirtyTwoBytes) {
  // 32 bytes of base64, standard and URL-safe alphabets alike.
  const std::string secret = "q83vEjRWeJq8/+7/ABEiM0RVZneImaq7zN3u/wARIjM=";
  Config c;
  applyEnvironment(c, {{"Cluster__Secret", secret},
                       {"Cluster__NodeUrl", "http://10.1.2.3:5000"},
                       {"Cluster__Nodes__0", "http://10.1.2.3:5000"},
                       {"Cluster__Nodes__1", "http://[fd00::2]:5000"}});
  finalize(c);
  EXPECT_TRUE(c.cluster.enabled);
  EXPECT_EQ(c.cluster.secret.size(), 32u);
  EXPECT_EQ(c.cluster.nodeUrl, "http://10.1.2.3:5000");
  EXPECT_EQ(c.cluster.nodes.size(), 2u);
  Config urlSafe;
  applyEnvironment(urlSafe, {{"Cluster__Secret", "q83vEjRWeJq8_-7_ABEiM0RVZneImaq7zN3u_wARIjM"}});
  finalize(urlSafe);
  EXPECT_EQ(urlSafe.cluster.secret, c.cluster.secret);

  // No Cluster key, or empty ones (config/example.json): a lone node.
  Config lone;
  applyJson(lone, R"({"Cluster":{"Secret":"","NodeUrl":"","Nodes":[]}})");
  finalize(lone);
  EXPECT_FALSE(lone.cluster.enabled);

  // A member without a secret, or with a short or malformed one, stops at start.
  auto fails = [](std::map<std::string, std::string> env) {
    Config x;
    try {
      applyEnvironment(x, env);
      finalize(x);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_THAT(fails({{"Cluster__Enabled", "true"}}), testing::HasSubstr("Cluster:Secret"));
  EXPECT_THAT(fails({{"Cluster__NodeUrl", "http://10.1.2.3:5000"}}),
              testing::HasSubstr("Cluster:Secret"));
  EXPECT_THAT(fails({{"Cluster__Secret", "c2hvcnQ="}}), testing::HasSubstr("at least 32"));
  EXPECT_THAT(fails({{"Cluster__Secret", "not base64!"}}), testing::HasSubstr("not base64"));
  // Peers need an address they can reach, without path, with a port.
  for (const char* url :
       {"https://10.1.2.3:5000", "http://10.1.2.3", "http://a/b:1", "http://10.1.2.3:5000/",
        "http://h:0", "http://h:99999", "10.1.2.3:5000"}) {
    EXPECT_THAT(fails({{"Cluster__Secret", secret}, {"Cluster__NodeUrl", url}}),
                testing::HasSubstr("Cluster:NodeUrl"))
        << url;
  }
  EXPECT_THAT(fails({{"Cluster__Secret", secret}, {"URLS", "http://0.0.0.0:5000"}}),
              testing::HasSubstr("Cluster:NodeUrl is required"));
  EXPECT_THAT(fails({{"Cluster__Secret", secret}, {"Herald__NodeId", "a b"}}),
              testing::HasSubstr("Herald:NodeId"));
  // Enabled=false wins over the other keys.
  EXPECT_EQ(fails({{"Cluster__Enabled", "false"}, {"Cluster__NodeUrl", "http://h:1"}}), "");
}
