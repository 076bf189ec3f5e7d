// parseConnectionString: every accepted form, and refusals that never quote a password.
#include "storage/store_location.h"

#include <string>

#include <gtest/gtest.h>

#include "storage/open_store.h"

namespace herald::storage {
namespace {

using Kind = StoreLocation::Kind;

StoreLocation parse(std::string_view cs) { return parseConnectionString(cs, "/srv/data"); }

// The error text for `cs`, or "" when it parses.
std::string errorOf(std::string_view cs) {
  try {
    parse(cs);
  } catch (const StoreLocationError& e) {
    return e.what();
  }
  return "";
}

TEST(StoreLocationTest, EmptyMeansHeraldDbUnderTheDataDirectory) {
  auto loc = parse("");
  EXPECT_EQ(loc.kind, Kind::Sqlite);
  EXPECT_EQ(loc.sqlitePath, "/srv/data/herald.db");
  EXPECT_EQ(parseConnectionString("  ", "./data").sqlitePath, "./data/herald.db");
}

TEST(StoreLocationTest, SqlitePathsAndMemory) {
  EXPECT_EQ(parse("data/herald.db").sqlitePath, "data/herald.db");
  EXPECT_EQ(parse("/var/lib/herald/h.db").sqlitePath, "/var/lib/herald/h.db");
  EXPECT_EQ(parse(":memory:").sqlitePath, ":memory:");
  EXPECT_EQ(parse(":memory:").kind, Kind::Sqlite);
  EXPECT_EQ(parse("./odd=name.db").sqlitePath, "./odd=name.db");  // '/' before '=': a path
  EXPECT_EQ(parse("sqlite:/tmp/a.db").sqlitePath, "/tmp/a.db");
  EXPECT_EQ(parse("SQLite:///tmp/a.db").sqlitePath, "/tmp/a.db");
}

TEST(StoreLocationTest, DataSourceForms) {
  EXPECT_EQ(parse("Data Source=/tmp/x.db").sqlitePath, "/tmp/x.db");
  EXPECT_EQ(parse("data source = /tmp/x.db ;").sqlitePath, "/tmp/x.db");
  EXPECT_EQ(parse("DataSource=:memory:").sqlitePath, ":memory:");
  EXPECT_EQ(parse("Filename=\"/tmp/a;b.db\"").sqlitePath, "/tmp/a;b.db");
  EXPECT_EQ(parse("Data Source=x.db").kind, Kind::Sqlite);
}

TEST(StoreLocationTest, MySqlConnectorKeyValueForm) {
  auto loc = parse("Server=127.0.0.1;Port=3307;Database=herald;User=u;Password=pw");
  EXPECT_EQ(loc.kind, Kind::MySql);
  EXPECT_EQ(loc.host, "127.0.0.1");
  EXPECT_EQ(loc.port, 3307);
  EXPECT_EQ(loc.database, "herald");
  EXPECT_EQ(loc.user, "u");
  EXPECT_EQ(loc.password, "pw");
  EXPECT_TRUE(loc.socket.empty());
  EXPECT_TRUE(loc.sqlitePath.empty());
}

TEST(StoreLocationTest, MySqlKeysAreCaseInsensitiveWithSynonyms) {
  auto loc = parse("host=db.local; DATABASE=h; Uid=alice; Pwd='p;w''d'");
  EXPECT_EQ(loc.kind, Kind::MySql);
  EXPECT_EQ(loc.host, "db.local");
  EXPECT_EQ(loc.port, 3306);
  EXPECT_EQ(loc.user, "alice");
  EXPECT_EQ(loc.password, "p;w'd");
  EXPECT_EQ(parse("Server=h;Database=d;User Id=bob").user, "bob");
  EXPECT_EQ(parse("Server=h;Database=d;USERID=bob").user, "bob");
  EXPECT_EQ(parse("Server=h;Database=d;Username=bob").user, "bob");
}

TEST(StoreLocationTest, MySqlUnixSocketAndOptions) {
  auto loc = parse("Server=/run/mysqld/mysqld.sock;Database=d;User=u");
  EXPECT_EQ(loc.socket, "/run/mysqld/mysqld.sock");
  EXPECT_TRUE(loc.host.empty());
  loc = parse("Server=mysqld.sock;Protocol=Unix;Database=d;SslMode=Required");
  EXPECT_EQ(loc.socket, "mysqld.sock");
  ASSERT_EQ(loc.options.size(), 1u);
  EXPECT_EQ(loc.options[0].first, "sslmode");
  EXPECT_EQ(loc.options[0].second, "Required");
}

TEST(StoreLocationTest, MySqlUrlForm) {
  auto loc = parse("mysql://u%40x:p%3Aw@db.example:3310/herald?ssl-mode=REQUIRED");
  EXPECT_EQ(loc.kind, Kind::MySql);
  EXPECT_EQ(loc.user, "u@x");
  EXPECT_EQ(loc.password, "p:w");
  EXPECT_EQ(loc.host, "db.example");
  EXPECT_EQ(loc.port, 3310);
  EXPECT_EQ(loc.database, "herald");
  ASSERT_EQ(loc.options.size(), 1u);
  EXPECT_EQ(loc.options[0].first, "ssl-mode");

  loc = parse("MariaDB://root@[::1]/h");
  EXPECT_EQ(loc.host, "::1");
  EXPECT_EQ(loc.port, 3306);
  EXPECT_EQ(loc.user, "root");
  EXPECT_TRUE(loc.password.empty());
  EXPECT_EQ(parse("mysql://u:a@b@h/d").password, "a@b");  // the last '@' ends the password
}

TEST(StoreLocationTest, RefusesWhatItCannotReadAndNeverQuotesThePassword) {
  const char* bad[] = {
      "Foo=bar",                                 // neither Data Source nor Server
      "Server=h;Port=0;Database=d",              // port out of range
      "Server=h;Port=99999;Database=d",          //
      "Server=h;Port=33o6;Database=d",           //
      "Server=h;User=u;Password=secret1",        // no database
      "Server=;Database=d",                      // empty server
      "Server=h;Database=d;Protocol=pipe",       //
      "Server=h;Database=d;Password=\"secret1",  // unclosed quote
      "Server=h;Database=d;garbage",             // a part without '='
      "Data Source=a.db;Database=d",             // SQLite and MySQL mixed
      "Data Source=a.db;Mode=ReadOnly",          // SQLite key we do not support
      "Data Source=",                            //
      "postgres://u:secret1@h/d",                // unsupported scheme
      "mysql://u:secret1@h:99999/d",             // bad port
      "mysql://u:secret1@/d",                    // no host
      "mysql://u:secret1@h",                     // no database
      "mysql://u:secret1%zz@h/d",                // bad escape
      "mysql://u:secret1@[::1/d",                // unclosed bracket
      "sqlite:",                                 //
  };
  for (const char* cs : bad) {
    const auto error = errorOf(cs);
    EXPECT_FALSE(error.empty()) << cs;
    EXPECT_EQ(error.find("secret1"), std::string::npos) << error;
  }
}

TEST(StoreLocationTest, DescribeLeavesThePasswordOut) {
  EXPECT_EQ(describe(parse("/tmp/a.db")), "SQLite at /tmp/a.db");
  auto text = describe(parse("Server=h;Port=3307;Database=d;User=u;Password=secret1"));
  EXPECT_EQ(text, "MySQL/MariaDB u@h:3307/d");
  EXPECT_EQ(describe(parse("Server=/s.sock;Database=d")), "MySQL/MariaDB unix:/s.sock/d");
}

TEST(StoreLocationTest, OpenStoreMySqlFailsClearlyWithoutThePassword) {
  // Nothing listens on port 1: the error names the server, never the password.
  auto loc = parse("Server=127.0.0.1;Port=1;Database=x;User=u;Password=secret1");
  try {
    openStore(loc);
    FAIL() << "a MySQL location with no server opened";
  } catch (const StoreError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("cannot connect to MySQL/MariaDB u@127.0.0.1:1/x"), std::string::npos)
        << what;
    EXPECT_EQ(what.find("secret1"), std::string::npos);
  }
  auto store = openStore(parse(":memory:"));
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->getJob("nope"));
}

}  // namespace
}  // namespace herald::storage
