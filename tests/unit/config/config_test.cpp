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
  EXPECT_EQ(fromExample.jwt.clockSkew, defaults.jwt.clockSkew);
  EXPECT_EQ(fromExample.workers.apiKeys, defaults.workers.apiKeys);
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
