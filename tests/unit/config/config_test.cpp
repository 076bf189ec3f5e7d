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

TEST(Config, EnableAuthRefusesToStartUntilJwtExists) {
  // Nothing fails open: without token verification, EnableAuth=true must not start a
  // server that everyone could use while its operator believes it protected.
  Config c;
  applyJson(c, R"({"AppSettings":{"EnableAuth":true}})");
  try {
    finalize(c);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("EnableAuth=true is not supported yet: JWT authentication "
                                         "is not built; refusing to start rather than run "
                                         "without it"),
              std::string::npos)
        << e.what();
  }
  Config fromEnv;
  applyEnvironment(fromEnv, {{"AppSettings__EnableAuth", "true"}});
  EXPECT_THROW(finalize(fromEnv), ConfigError);
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
