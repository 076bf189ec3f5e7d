// The server's JSON writer: strings exactly as Boost.JSON escapes them, numbers in the
// shortest round-trip decimal form browsers and .NET print.
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <boost/json/parse.hpp>
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

// The texts .NET and browsers print for these doubles (Number.prototype.toString).
TEST(JsonText, NumbersPrintAsBrowsersDo) {
  const std::pair<double, const char*> cases[] = {
      {0.0, "0"},
      {-0.0, "0"},
      {0.17, "0.17"},
      {24.38, "24.38"},
      {29.6, "29.6"},
      {0.1, "0.1"},
      {12.5, "12.5"},
      {33.3, "33.3"},
      {99.9, "99.9"},
      {100.0, "100"},
      {30.0, "30"},
      {-3.25, "-3.25"},
      {1e-7, "1e-7"},
      {1.5e-7, "1.5e-7"},
      {0.000001, "0.000001"},
      {0.0000123, "0.0000123"},
      {1e21, "1e+21"},
      {1.5e21, "1.5e+21"},
      {1e20, "100000000000000000000"},
      {123456789012345680000.0, "123456789012345680000"},
      {0.1 + 0.2, "0.30000000000000004"},
      {1.0 / 3, "0.3333333333333333"},
      {std::numeric_limits<double>::max(), "1.7976931348623157e+308"},
      {std::numeric_limits<double>::denorm_min(), "5e-324"},
      {-1e-300, "-1e-300"},
      {std::numeric_limits<double>::quiet_NaN(), "null"},
      {std::numeric_limits<double>::infinity(), "null"},
      {-std::numeric_limits<double>::infinity(), "null"},
  };
  for (auto [d, text] : cases) EXPECT_EQ(dbl(d), text) << d;
  for (std::int64_t v :
       {std::int64_t{0}, std::int64_t{-1}, std::int64_t{42},
        std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
    std::string out;
    appendJsonInteger(out, v);
    EXPECT_EQ(out, boost::json::serialize(boost::json::value(v)));
  }
}

// Property: every finite double reads back as itself, and its text is the shortest one
// that does (no digit can be dropped), with no exponent in [1e-6, 1e21).
TEST(JsonText, RandomDoublesRoundTripInShortestForm) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> progress(0, 100);
  for (int i = 0; i < 200000; ++i) {
    double d;
    switch (i % 3) {
      case 0: d = std::round(progress(rng) * 100) / 100; break;
      case 1: {
        auto bits = rng();
        std::memcpy(&d, &bits, sizeof d);
        if (!std::isfinite(d)) continue;
        break;
      }
      default: d = progress(rng) * std::pow(10.0, static_cast<int>(rng() % 60) - 30);
    }
    const auto text = dbl(d);
    // Read back with a correctly rounding parser (from_chars; Boost.JSON's default number
    // parsing is not exact in the last bit for long mantissas).
    double read = 0;
    std::from_chars(text.data(), text.data() + text.size(), read);
    ASSERT_EQ(read, d) << text;
    ASSERT_EQ(boost::json::parse(text).kind() == boost::json::kind::string, false);
    ASSERT_EQ(text.find('E'), std::string::npos) << text;
    const double mag = std::fabs(d);
    if (mag >= 1e-6 && mag < 1e21) ASSERT_EQ(text.find('e'), std::string::npos) << text;
    // Shortest: the digits to_chars picks are the shortest round-trip ones.
    char sci[40];
    auto [end, ec] = std::to_chars(sci, sci + sizeof sci, d, std::chars_format::scientific);
    std::string s(sci, end);
    std::size_t digits = 0;
    for (char c : s.substr(0, s.find('e'))) digits += std::isdigit(static_cast<unsigned char>(c));
    std::size_t textDigits = 0;
    const auto mantissa = text.substr(0, text.find('e'));
    const auto firstNonZero = mantissa.find_first_not_of("-0.");
    const auto lastNonZero = mantissa.find_last_not_of("0.");
    for (auto j = firstNonZero; j != std::string::npos && j <= lastNonZero; ++j) {
      textDigits += std::isdigit(static_cast<unsigned char>(mantissa[j])) ? 1 : 0;
    }
    ASSERT_LE(textDigits, digits) << text << " vs " << s;
  }
}

TEST(JsonText, ValuesSerialiseCompactlyWithBrowserNumbers) {
  auto v = boost::json::parse(
      R"({"a":[1,-2,18446744073709551615,0.17,2.96E1,true,false,null],"s":"x\"\n","o":{}})");
  EXPECT_EQ(herald::core::toJson(v),
            R"({"a":[1,-2,18446744073709551615,0.17,29.6,true,false,null],"s":"x\"\n","o":{}})");
  // Everything else is what Boost.JSON writes.
  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {
    boost::json::object o;
    o["n"] = static_cast<std::int64_t>(rng()) - (1LL << 31);
    o["s"] = std::string(rng() % 20, static_cast<char>(rng() % 128));
    o["l"] = boost::json::array{nullptr, true, boost::json::object{{"k", "v"}}};
    ASSERT_EQ(herald::core::toJson(o), boost::json::serialize(o));
  }
}

TEST(JsonText, AppendJsonNumberIsTheDoubleForm) {
  auto num = [](double d) {
    std::string out;
    appendJsonNumber(out, d);
    return out;
  };
  EXPECT_EQ(num(50), "50");
  EXPECT_EQ(num(100), "100");
  EXPECT_EQ(num(-2), "-2");
  EXPECT_EQ(num(12.5), "12.5");
  EXPECT_EQ(num(1e300), "1e+300");
}
