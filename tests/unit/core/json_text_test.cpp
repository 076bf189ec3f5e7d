// The direct JSON writers must print exactly what boost::json::serialize prints for the
// same values: the hot paths use them, the rest of the server Boost.JSON.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/json_text.h"

using herald::core::appendJsonDouble;
using herald::core::appendJsonInteger;
using herald::core::appendJsonNumber;
using herald::core::appendJsonString;

namespace {
std::string str(std::string_view s) {
  std::string out;
  appendJsonString(out, s);
  return out;
}
std::string dbl(double d) {
  std::string out;
  appendJsonDouble(out, d);
  return out;
}
}  // namespace

TEST(JsonText, EscapesEveryByteAsBoostDoes) {
  for (int c = 0; c < 256; ++c) {
    std::string s = "a";
    s += static_cast<char>(c);
    s += "b";
    EXPECT_EQ(str(s), boost::json::serialize(boost::json::string_view(s))) << "byte " << c;
  }
  EXPECT_EQ(str(""), "\"\"");
  EXPECT_EQ(str("\"\\\n\x01"), R"("\"\\\n\u0001")");
  EXPECT_EQ(str("Ünïcødé ✓ 🎬"), "\"Ünïcødé ✓ 🎬\"");
}

TEST(JsonText, RandomStringsMatchBoost) {
  // Long runs without escapes too (the writer skips those a word at a time), with the
  // odd escape or high byte anywhere in a word.
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string s(rng() % 200, '\0');
    const unsigned rarity = 1 + rng() % 64;
    for (auto& ch : s) {
      ch = static_cast<char>(rng() % rarity == 0 ? rng() % 0x30 + (rng() % 2) * 0x50
                                                 : 0x20 + rng() % 0xe0);
    }
    ASSERT_EQ(str(s), boost::json::serialize(boost::json::string_view(s))) << i;
  }
}

TEST(JsonText, NumbersMatchBoost) {
  const double samples[] = {0.0,
                            -0.0,
                            0.1,
                            12.5,
                            33.3,
                            99.9,
                            100.0,
                            1e-7,
                            1e21,
                            -3.25,
                            std::numeric_limits<double>::max(),
                            std::numeric_limits<double>::denorm_min(),
                            std::numeric_limits<double>::quiet_NaN(),
                            std::numeric_limits<double>::infinity()};
  for (double d : samples) EXPECT_EQ(dbl(d), boost::json::serialize(boost::json::value(d))) << d;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> progress(0, 100);
  for (int i = 0; i < 5000; ++i) {
    double d = std::round(progress(rng) * 10) / 10;
    ASSERT_EQ(dbl(d), boost::json::serialize(boost::json::value(d)));
  }
  for (std::int64_t v :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{42},
        std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
    std::string out;
    appendJsonInteger(out, v);
    EXPECT_EQ(out, boost::json::serialize(boost::json::value(v)));
  }
}

TEST(JsonText, WholeNumbersPrintAsIntegers) {
  auto num = [](double d) {
    std::string out;
    appendJsonNumber(out, d);
    return out;
  };
  EXPECT_EQ(num(50), "50");
  EXPECT_EQ(num(100), "100");
  EXPECT_EQ(num(-2), "-2");
  EXPECT_EQ(num(12.5), boost::json::serialize(boost::json::value(12.5)));
  EXPECT_EQ(num(1e300), boost::json::serialize(boost::json::value(1e300)));
}
