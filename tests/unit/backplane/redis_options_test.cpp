// ConnectionStrings:Redis in both forms users have: what is honoured, what is accepted
// and means nothing here, and what stops the start (never silently ignored).
#include <gtest/gtest.h>

#include "backplane/redis/redis_options.h"

using herald::backplane::redis::describe;
using herald::backplane::redis::parseRedisConnectionString;
using herald::backplane::redis::RedisOptionsError;

namespace {

// The error's message, or "" when the string parses.
std::string errorOf(const std::string& text) {
  try {
    parseRedisConnectionString(text);
  } catch (const RedisOptionsError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(RedisOptions, StackExchangeFormWithEveryHonouredOption) {
  auto o = parseRedisConnectionString(
      " redis.local:6380 , password=s3cr=t, ssl=false,abortConnect=False, defaultDatabase=3,"
      "channelPrefix=app1,name=herald-a,connectTimeout=750,connectRetry=5,user=herald ");
  EXPECT_EQ(o.host, "redis.local");
  EXPECT_EQ(o.port, 6380);
  EXPECT_EQ(o.password, "s3cr=t");  // only the first '=' separates
  EXPECT_EQ(o.user, "herald");
  EXPECT_FALSE(o.abortConnect);
  EXPECT_EQ(o.database, 3);
  EXPECT_EQ(o.channelPrefix, "app1");
  EXPECT_EQ(o.clientName, "herald-a");
  EXPECT_EQ(o.connectTimeoutMs, 750);
  EXPECT_EQ(o.connectRetry, 5);
}

TEST(RedisOptions, DefaultsFollowStackExchangeRedis) {
  auto o = parseRedisConnectionString("localhost");
  EXPECT_EQ(o.host, "localhost");
  EXPECT_EQ(o.port, 6379);
  EXPECT_TRUE(o.abortConnect);
  EXPECT_EQ(o.database, 0);
  EXPECT_EQ(o.connectTimeoutMs, 5000);
  EXPECT_TRUE(o.password.empty());
  EXPECT_EQ(parseRedisConnectionString("127.0.0.1:6379,").port, 6379);  // a trailing comma
}

TEST(RedisOptions, IPv6Endpoints) {
  auto o = parseRedisConnectionString("[::1]:7000,password=x");
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 7000);
  EXPECT_EQ(parseRedisConnectionString("::1").host, "::1");
  EXPECT_EQ(parseRedisConnectionString("redis://[::1]:7001/2").port, 7001);
  EXPECT_EQ(describe(parseRedisConnectionString("[::1]:7000")), "redis [::1]:7000 db 0");
}

TEST(RedisOptions, StackExchangeTuningIsAcceptedAndMeansNothing) {
  EXPECT_EQ(errorOf("h:1,allowAdmin=true,syncTimeout=5000,asyncTimeout=5000,keepAlive=60,"
                    "configCheckSeconds=60,resolveDns=true,version=7.0,setlib=false,"
                    "tiebreaker=,configChannel=x,proxy=None,protocol=resp2"),
            "");
}

TEST(RedisOptions, WhatCannotBeHonouredStopsTheStart) {
  EXPECT_NE(errorOf("h:1,ssl=true").find("ssl=true is not supported"), std::string::npos);
  EXPECT_NE(errorOf("h:1,sslHost=h").find("TLS"), std::string::npos);
  EXPECT_NE(errorOf("h:1,serviceName=mymaster").find("Sentinel"), std::string::npos);
  EXPECT_NE(errorOf("h:1,proxy=Twemproxy").find("proxy"), std::string::npos);
  EXPECT_NE(errorOf("h:1,protocol=resp3").find("resp2"), std::string::npos);
  EXPECT_NE(errorOf("h:1,h2:2").find("more than one endpoint"), std::string::npos);
  EXPECT_NE(errorOf("h:1,frobnicate=1").find("unknown option 'frobnicate'"), std::string::npos);
  EXPECT_NE(errorOf("password=x").find("no endpoint"), std::string::npos);
  EXPECT_NE(errorOf("").find("empty"), std::string::npos);
  EXPECT_NE(errorOf("h:0").find("port"), std::string::npos);
  EXPECT_NE(errorOf("h:65536").find("port"), std::string::npos);
  EXPECT_NE(errorOf("h:x").find("port"), std::string::npos);
  EXPECT_NE(errorOf("h:1,abortConnect=maybe").find("true or false"), std::string::npos);
  EXPECT_NE(errorOf("h:1,defaultDatabase=-1").find("defaultdatabase"), std::string::npos);
  EXPECT_NE(errorOf("h:1,name=two words").find("option name"), std::string::npos);
  EXPECT_NE(errorOf("h:1,=x").find("without an option name"), std::string::npos);
  EXPECT_NE(errorOf("h h:1").find("host"), std::string::npos);
}

TEST(RedisOptions, ErrorsNeverQuoteAPassword) {
  for (const auto& text : {"h:1,password=hunter2,ssl=true", "redis://:hunter2@h:x",
                           "redis://:hunter2%zz@h", "h:1,password=hunter2,x=1"}) {
    const auto error = errorOf(text);
    EXPECT_FALSE(error.empty()) << text;
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  }
  EXPECT_EQ(describe(parseRedisConnectionString("h:1,password=hunter2")).find("hunter2"),
            std::string::npos);
}

TEST(RedisOptions, UriForm) {
  auto o = parseRedisConnectionString("redis://:p%40ss/w?rd@cache:6390/4");
  EXPECT_EQ(o.host, "cache");
  EXPECT_EQ(o.port, 6390);
  EXPECT_EQ(o.password, "p@ss/w?rd");  // up to the last '@'; %40 is an '@'
  EXPECT_TRUE(o.user.empty());
  EXPECT_EQ(o.database, 4);
  auto withUser = parseRedisConnectionString("REDIS://app:pw@cache?abortConnect=false&db=2");
  EXPECT_EQ(withUser.user, "app");
  EXPECT_EQ(withUser.password, "pw");
  EXPECT_EQ(withUser.port, 6379);
  EXPECT_EQ(withUser.database, 2);
  EXPECT_FALSE(withUser.abortConnect);
  EXPECT_EQ(parseRedisConnectionString("redis://localhost/").database, 0);
}

TEST(RedisOptions, UriFormRefusals) {
  EXPECT_NE(errorOf("rediss://h:6380").find("TLS"), std::string::npos);
  EXPECT_NE(errorOf("unix:///run/redis.sock").find("scheme"), std::string::npos);
  EXPECT_NE(errorOf("redis://pw@h").find(":password@"), std::string::npos);
  EXPECT_NE(errorOf("redis://h/x").find("database"), std::string::npos);
  EXPECT_NE(errorOf("redis://h?ssl=true").find("ssl=true"), std::string::npos);
  EXPECT_NE(errorOf("redis://h?nonsense=1").find("unknown option"), std::string::npos);
  EXPECT_NE(errorOf("redis://h#frag").find("fragment"), std::string::npos);
  EXPECT_NE(errorOf("redis://:%4@h").find("%-escape"), std::string::npos);
  EXPECT_NE(errorOf("redis://").find("host"), std::string::npos);
}
