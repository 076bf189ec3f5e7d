// ConnectionStrings:Redis in both forms users have, and refusals that never echo the
// password.
#include <gtest/gtest.h>

#include <stdexcept>

#include "cluster/redis_address.h"

using herald::cluster::parseRedisAddress;

TEST(RedisAddress, StackExchangeForm) {
  auto a = parseRedisAddress("redis.internal:6380,password=s3cret,ssl=false,abortConnect=false");
  EXPECT_EQ(a.host, "redis.internal");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.database, 0);
  auto b = parseRedisAddress("localhost");
  EXPECT_EQ(b.host, "localhost");
  EXPECT_EQ(b.port, 6379);
  auto c = parseRedisAddress("[::1]:7000, defaultDatabase=2");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7000);
  EXPECT_EQ(c.database, 2);
}

TEST(RedisAddress, UrlForm) {
  auto a = parseRedisAddress("redis://:pw@127.0.0.1:6390/3");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6390);
  EXPECT_EQ(a.password, "pw");
  EXPECT_EQ(a.database, 3);
  auto b = parseRedisAddress("redis://cache");
  EXPECT_EQ(b.host, "cache");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.password, "");
}

TEST(RedisAddress, RefusesWhatItCannotHonour) {
  for (const char* bad : {"", "host:0", "host:99999", "host:x", "a:1,b:2", "host:1,ssl=true",
                          "rediss://host", "redis://host/x", ",password=only"}) {
    EXPECT_THROW(parseRedisAddress(bad), std::invalid_argument) << bad;
  }
  try {
    parseRedisAddress("host:1,password=topsecret,ssl=true");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("topsecret"), std::string::npos);
  }
}
