// Golden frames from signalr-protocol.md section 11 (produced by the JS client's
// encoders), every integer/string width, and malformed input.
#include <gtest/gtest.h>

#include "protocol/signalr/msgpack_protocol.h"
#include "protocol/signalr/varint.h"

using namespace herald::protocol;

namespace {
const MessagePackHubProtocol kMp;
constexpr std::size_t kMax = 102400;

std::string hex(std::string_view h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size();) {
    if (h[i] == ' ') {
      ++i;
      continue;
    }
    out += static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16));
    i += 2;
  }
  return out;
}

std::string written(const HubMessage& m) {
  std::string out;
  kMp.write(m, out);
  return out;
}

HubMessage parseOne(const std::string& bytes) {
  std::vector<HubMessage> out;
  auto r = kMp.parse(bytes, out, kMax);
  EXPECT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.consumed, bytes.size());
  EXPECT_EQ(out.size(), 1u);
  return out.empty() ? HubMessage(PingMessage{}) : out[0];
}
}  // namespace

TEST(VarInt, RoundTripsAndRejectsOverlongPrefixes) {
  for (std::uint32_t v : {0u, 2u, 127u, 128u, 300u, 5248u, 0x7FFFFFFFu}) {
    std::string s;
    appendVarInt(s, v);
    auto r = readVarInt(s);
    ASSERT_EQ(r.status, VarIntStatus::Ok);
    EXPECT_EQ(r.value, v);
    EXPECT_EQ(r.bytes, s.size());
  }
  EXPECT_EQ(hex("ac 02"), [] {
    std::string s;
    appendVarInt(s, 300);
    return s;
  }());
  EXPECT_EQ(readVarInt(hex("80 80")).status, VarIntStatus::Incomplete);
  EXPECT_EQ(readVarInt(hex("ff ff ff ff 08")).status, VarIntStatus::Invalid);
}

TEST(MessagePack, ParsesTheJsClientsInvocation) {
  auto m = parseOne(
      hex("1b 95 01 80 a1 30 ab 53 65 6e 64 4d 65 73 73 61 67 65 92 a5 61 6c 69 63 65 a2 68 69"));
  auto& inv = std::get<InvocationMessage>(m);
  EXPECT_EQ(inv.invocationId.value_or(""), "0");
  EXPECT_EQ(inv.target, "SendMessage");
  ASSERT_EQ(inv.arguments.size(), 2u);
  EXPECT_EQ(inv.arguments[0].as_string(), "alice");
  // send(): nil id
  auto s = parseOne(
      hex("1a 95 01 80 c0 ab 53 65 6e 64 4d 65 73 73 61 67 65 92 a5 61 6c 69 63 65 a2 68 69"));
  EXPECT_FALSE(std::get<InvocationMessage>(s).invocationId.has_value());
}

TEST(MessagePack, WritesDotNetStyleFrames) {
  InvocationMessage inv;
  inv.target = "ReceiveMessage";
  inv.arguments = {"alice", "hi"};
  EXPECT_EQ(written(inv), hex("1e 96 01 80 c0 ae 52 65 63 65 69 76 65 4d 65 73 73 61 67 65 92 a5 "
                              "61 6c 69 63 65 a2 68 69 90"));
  CompletionMessage c;
  c.invocationId = "0";
  c.hasResult = true;
  c.result = 42;
  EXPECT_EQ(written(c), hex("07 95 03 80 a1 30 03 2a"));
  c.result = nullptr;
  EXPECT_EQ(written(c), hex("07 95 03 80 a1 30 03 c0"));
  c.hasResult = false;
  EXPECT_EQ(written(c), hex("06 94 03 80 a1 30 02"));
  c.error = "boom";
  EXPECT_EQ(written(c), hex("0b 95 03 80 a1 30 01 a4 62 6f 6f 6d"));
  EXPECT_EQ(written(PingMessage{}), hex("02 91 06"));
  EXPECT_EQ(written(CloseMessage{}), hex("04 93 07 c0 c2"));
  EXPECT_EQ(written(CloseMessage{std::nullopt, true}), hex("04 93 07 c0 c3"));
  EXPECT_EQ(written(CloseMessage{"Connection closed with an error.", true}),
            hex("25 93 07 d9 20 43 6f 6e 6e 65 63 74 69 6f 6e 20 63 6c 6f 73 65 64 20 77 69 74 68 "
                "20 61 6e 20 65 72 72 6f 72 2e c3"));
  EXPECT_EQ(written(AckMessage{5}), hex("03 92 08 05"));
  EXPECT_EQ(written(SequenceMessage{3}), hex("03 92 09 03"));
}

TEST(MessagePack, ParsesOtherClientMessages) {
  EXPECT_TRUE(std::holds_alternative<PingMessage>(parseOne(hex("02 91 06"))));
  auto close = std::get<CloseMessage>(parseOne(hex("03 92 07 c0")));
  EXPECT_FALSE(close.error.has_value());
  EXPECT_EQ(std::get<AckMessage>(parseOne(hex("03 92 08 05"))).sequenceId, 5);
  EXPECT_EQ(std::get<SequenceMessage>(parseOne(hex("03 92 09 03"))).sequenceId, 3);
  auto err = std::get<CompletionMessage>(
      parseOne(hex("26 95 03 80 a1 30 01 bf 43 6c 69 65 6e 74 20 64 69 64 6e 27 74 20 70 72 6f 76 "
                   "69 64 65 20 61 20 72 65 73 75 6c 74 2e")));
  EXPECT_EQ(err.error.value_or(""), "Client didn't provide a result.");
  auto hdr =
      std::get<InvocationMessage>(parseOne(hex("0d 96 01 81 a1 78 a1 79 a1 30 a1 4d 90 90")));
  EXPECT_EQ(hdr.target, "M");
  EXPECT_EQ(std::get<StreamInvocationMessage>(
                parseOne(hex("0f 95 04 80 a1 31 a7 43 6f 75 6e 74 65 72 91 03")))
                .target,
            "Counter");
}

TEST(MessagePack, ReadsEveryWidthAndTimestamps) {
  // [1, {}, nil, "M", [u8 200, u16, u32, u64, i8 -5, i16, i32, i64, f32 1.5, f64 2.5, str8, bin,
  // ts32, ts64, ts96]]
  std::string args = hex(
      "9f cc c8 cd 01 00 ce 00 01 00 00 cf 00 00 00 01 00 00 00 00 d0 fb d1 ff 00 d2 ff ff 00 00"
      " d3 ff ff ff ff 00 00 00 00 ca 3f c0 00 00 cb 40 04 00 00 00 00 00 00 d9 01 41 c4 02 01 02"
      " d6 ff 65 93 7d 25 d7 ff a1 a5 d6 00 65 93 7d 25 c7 0c ff 00 00 00 00 ff ff ff ff fe 1e cc "
      "80");
  std::string body = hex("95 01 80 c0 a1 4d") + args;
  std::string frame;
  appendVarInt(frame, static_cast<std::uint32_t>(body.size()));
  frame += body;
  auto inv = std::get<InvocationMessage>(parseOne(frame));
  const auto& a = inv.arguments;
  ASSERT_EQ(a.size(), 15u);
  EXPECT_EQ(a[0].as_int64(), 200);
  EXPECT_EQ(a[1].as_int64(), 256);
  EXPECT_EQ(a[2].as_int64(), 65536);
  EXPECT_EQ(a[3].as_int64(), 4294967296LL);
  EXPECT_EQ(a[4].as_int64(), -5);
  EXPECT_EQ(a[5].as_int64(), -256);
  EXPECT_EQ(a[6].as_int64(), -65536);
  EXPECT_EQ(a[7].as_int64(), -4294967296LL);
  EXPECT_DOUBLE_EQ(a[8].as_double(), 1.5);
  EXPECT_DOUBLE_EQ(a[9].as_double(), 2.5);
  EXPECT_EQ(a[10].as_string(), "A");
  EXPECT_EQ(a[11].as_string(), "AQI=");
  EXPECT_EQ(a[12].as_string(), "2024-01-02T03:04:05.000Z");
  EXPECT_EQ(a[13].as_string(), "2024-01-02T03:04:05.678Z");
  EXPECT_EQ(a[14].as_string(), "1969-01-01T00:00:00.000Z");
}

TEST(MessagePack, FragmentedAndBatchedInput) {
  std::string stream = hex("02 91 06") + hex("03 92 08 05") + hex("02 91 06");
  std::string buffer;
  std::vector<HubMessage> out;
  for (char c : stream) {
    buffer += c;
    auto r = kMp.parse(buffer, out, kMax);
    ASSERT_TRUE(r.ok());
    buffer.erase(0, r.consumed);
  }
  EXPECT_EQ(out.size(), 3u);
}

TEST(MessagePack, HugeContainerCountsAreTruncationNotOverreads) {
  // Found by fuzz_msgpack_protocol: a map32 count near 2^32 overflowed msgpuck's mp_check,
  // which then let the decoder read past the buffer.
  std::vector<HubMessage> out;
  auto r = kMp.parse(hex("1b 95 01 80 a1 30 ab 53 65 6e 64 4d 65 72 73 ff 95 02 99 ff ff ff ff df "
                         "ff ff 0e ff ee 05"),
                     out, kMax);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(kMp.parse(hex("06 95 01 80 c0 a1 4d dd"), out, kMax).ok());  // array32, no count
  EXPECT_FALSE(
      kMp.parse(hex("0a 95 01 80 c0 a1 4d 91 db ff ff ff"), out, kMax).ok());  // str32 past end
  EXPECT_TRUE(out.empty());
}

TEST(MessagePack, ContainerMapKeysAreRefused) {
  // Found by fuzz_msgpack_protocol: maps nested as keys of maps made each level's key the
  // escaped text of the one below, asking for gigabytes from a 200-byte message.
  std::vector<HubMessage> out;
  // [1, {}, nil, "M", [{{1:2}: 3}]]
  EXPECT_FALSE(kMp.parse(hex("0c 95 01 80 c0 a1 4d 91 81 81 01 02 03"), out, kMax).ok());
  // Scalar keys still work: [1, {}, nil, "M", [{1: 2}]]
  auto r = kMp.parse(hex("0a 95 01 80 c0 a1 4d 91 81 01 02"), out, kMax);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(std::get<InvocationMessage>(out.at(0)).arguments[0].as_object().at("1").as_int64(), 2);
}

TEST(MessagePack, MalformedInputIsAnErrorNeverACrash) {
  std::vector<HubMessage> out;
  for (auto bad : {"01 06", "02 92 06", "03 91 06 06", "01 c1", "02 81 06", "00", "04 93 01 80 c0",
                   "05 94 03 80 a1 30", "03 92 a1 31", "ff ff ff ff 7f"}) {
    auto r = kMp.parse(hex(bad), out, kMax);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_TRUE(out.empty());
  // Unknown type is skipped.
  auto r = kMp.parse(hex("02 91 63"), out, kMax);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(out.empty());
  // Too large by its prefix alone.
  auto big = kMp.parse(hex("ff ff 03"), out, 1000);
  EXPECT_TRUE(big.tooLarge);
}

TEST(MessagePack, PreWrittenJsonArgumentsBecomeTheSameValues) {
  InvocationMessage text;
  text.target = "JobProgressUpdate";
  text.argumentsJson =
      R"([{"jobId":"j1","progress":12.5,"sequence":7,"videoId":null,"m":{"a":[true]}}])";
  InvocationMessage values;
  values.target = "JobProgressUpdate";
  values.arguments = {
      boost::json::object{{"jobId", "j1"},
                          {"progress", 12.5},
                          {"sequence", 7},
                          {"videoId", nullptr},
                          {"m", boost::json::object{{"a", boost::json::array{true}}}}}};
  EXPECT_EQ(written(text), written(values));
  // Bytes that are not UTF-8 (a tool's output cut mid-character) and deep nesting reach
  // MessagePack clients as they would as values, as they reach JSON clients.
  text.argumentsJson =
      "[\"cut \xe2\x9c\", "
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]";
  boost::json::value nested = boost::json::array{1};
  for (int i = 0; i < 39; ++i) nested = boost::json::array{nested};
  values.arguments = {boost::json::string("cut \xe2\x9c"), nested};
  EXPECT_EQ(written(text), written(values));
  // Not an array (a bug upstream): sent with no arguments, never thrown at the fan-out.
  text.argumentsJson = "{oops";
  values.arguments.clear();
  EXPECT_EQ(written(text), written(values));
}
