// Golden frames from signalr-protocol.md section 11 and the error cases the codec must
// survive: fragmented input, several messages per read, bad JSON, wrong types.
#include <gtest/gtest.h>

#include "protocol/signalr/json_protocol.h"

using namespace herald::protocol;

namespace {
const JsonHubProtocol kJson;
constexpr std::size_t kMax = 102400;

std::string rs(std::string s) { return s + '\x1e'; }

std::string written(const HubMessage& m) {
  std::string out;
  kJson.write(m, out);
  return out;
}
}  // namespace

TEST(JsonProtocol, ParsesInvocationInEveryClientPropertyOrder) {
  for (auto text :
       {R"({"target":"SendMessage","arguments":["alice","hi"],"invocationId":"0","type":1})",
        R"({"arguments":["alice","hi"],"invocationId":"0","target":"SendMessage","type":1})",
        R"({"type":1,"invocationId":"0","target":"SendMessage","arguments":["alice","hi"]})"}) {
    std::vector<HubMessage> out;
    auto r = kJson.parse(rs(text), out, kMax);
    ASSERT_TRUE(r.ok()) << r.error;
    ASSERT_EQ(out.size(), 1u);
    auto& inv = std::get<InvocationMessage>(out[0]);
    EXPECT_EQ(inv.target, "SendMessage");
    EXPECT_EQ(inv.invocationId.value_or(""), "0");
    ASSERT_EQ(inv.arguments.size(), 2u);
    EXPECT_EQ(inv.arguments[1].as_string(), "hi");
  }
}

TEST(JsonProtocol, SendWithoutInvocationIdAndWithHeaders) {
  std::vector<HubMessage> out;
  auto r = kJson.parse(rs(R"({"type":1,"headers":{},"target":"M","arguments":[]})"), out, kMax);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(std::get<InvocationMessage>(out[0]).invocationId.has_value());
}

TEST(JsonProtocol, SeveralMessagesInOneReadAndFragmentsAcrossReads) {
  std::string stream =
      rs(R"({"type":6})") + rs(R"({"arguments":[1],"target":"A","type":1})") + rs(R"({"type":7})");
  std::vector<HubMessage> all;
  auto r = kJson.parse(stream, all, kMax);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.consumed, stream.size());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<PingMessage>(all[0]));
  EXPECT_TRUE(std::holds_alternative<CloseMessage>(all[2]));

  // Byte by byte: the same messages come out, none before its separator.
  std::string buffer;
  std::vector<HubMessage> pieces;
  for (char c : stream) {
    buffer += c;
    auto pr = kJson.parse(buffer, pieces, kMax);
    ASSERT_TRUE(pr.ok());
    buffer.erase(0, pr.consumed);
  }
  EXPECT_EQ(pieces.size(), 3u);
  EXPECT_TRUE(buffer.empty());
}

TEST(JsonProtocol, IncompleteMessageIsLeftInTheBuffer) {
  std::vector<HubMessage> out;
  auto r = kJson.parse(R"({"type":6})"
                       "\x1e"
                       R"({"type":)",
                       out, kMax);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(r.consumed, 11u);
}

TEST(JsonProtocol, BadJsonIsAnError) {
  std::vector<HubMessage> out;
  EXPECT_FALSE(kJson.parse(rs("{not json"), out, kMax).ok());
  EXPECT_FALSE(kJson.parse(rs("[1,2]"), out, kMax).ok());
  EXPECT_FALSE(kJson.parse(rs(R"({"target":"x"})"), out, kMax).ok());  // no type
}

TEST(JsonProtocol, WrongTypesAreErrors) {
  std::vector<HubMessage> out;
  EXPECT_FALSE(kJson.parse(rs(R"({"type":"1","target":"M","arguments":[]})"), out, kMax).ok());
  EXPECT_FALSE(kJson.parse(rs(R"({"type":1,"target":5,"arguments":[]})"), out, kMax).ok());
  EXPECT_FALSE(kJson.parse(rs(R"({"type":1,"target":"M","arguments":{}})"), out, kMax).ok());
  EXPECT_FALSE(kJson.parse(rs(R"({"type":1,"target":"M"})"), out, kMax).ok());
  EXPECT_FALSE(
      kJson.parse(rs(R"({"type":1,"invocationId":3,"target":"M","arguments":[]})"), out, kMax)
          .ok());
  EXPECT_FALSE(
      kJson.parse(rs(R"({"type":3,"invocationId":"1","result":1,"error":"x"})"), out, kMax).ok());
  EXPECT_FALSE(kJson.parse(rs(R"({"type":8,"sequenceId":"x"})"), out, kMax).ok());
  EXPECT_TRUE(out.empty());
}

TEST(JsonProtocol, HugeNumbersAreErrorsNotUndefinedBehaviour) {
  // Found by fuzz_json_protocol: a type of 5e69 overflowed the integer conversion.
  std::vector<HubMessage> out;
  EXPECT_FALSE(
      kJson.parse(rs(R"({"type":5000000000000000000000000000000000000000000000000})"), out, kMax)
          .ok());
  EXPECT_FALSE(kJson.parse(rs(R"({"type":8,"sequenceId":1e300})"), out, kMax).ok());
  auto r = kJson.parse(rs(R"({"type":6.0})"), out, kMax);
  EXPECT_TRUE(r.ok());
}

TEST(JsonProtocol, UnknownTypeIsSkipped) {
  std::vector<HubMessage> out;
  auto r = kJson.parse(rs(R"({"type":99,"x":1})") + rs(R"({"type":6})"), out, kMax);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<PingMessage>(out[0]));
}

TEST(JsonProtocol, OversizeMessageIsRejectedWithoutItsSeparator) {
  std::vector<HubMessage> out;
  std::string big = R"({"type":1,"target":"M","arguments":[")" + std::string(200, 'x') + R"("]})";
  auto r = kJson.parse(big, out, 100);  // no separator yet, already over the limit
  EXPECT_TRUE(r.tooLarge);
  auto r2 = kJson.parse(rs(big), out, 100);  // complete but too big
  EXPECT_TRUE(r2.tooLarge);
  auto r3 = kJson.parse(rs(big), out, 1000);
  EXPECT_TRUE(r3.ok());
}

TEST(JsonProtocol, WritesGoldenFrames) {
  InvocationMessage inv;
  inv.target = "ReceiveMessage";
  inv.arguments = {"alice", "hi"};
  EXPECT_EQ(written(inv), rs(R"({"type":1,"target":"ReceiveMessage","arguments":["alice","hi"]})"));

  CompletionMessage c;
  c.invocationId = "0";
  c.hasResult = true;
  c.result = 42;
  EXPECT_EQ(written(c), rs(R"({"type":3,"invocationId":"0","result":42})"));
  c.result = nullptr;
  EXPECT_EQ(written(c), rs(R"({"type":3,"invocationId":"0","result":null})"));
  c.error = "boom";
  EXPECT_EQ(written(c), rs(R"({"type":3,"invocationId":"0","error":"boom"})"));

  EXPECT_EQ(written(PingMessage{}), rs(R"({"type":6})"));
  EXPECT_EQ(written(CloseMessage{}), rs(R"({"type":7})"));
  EXPECT_EQ(written(CloseMessage{"Connection closed with an error.", true}),
            rs(R"({"type":7,"error":"Connection closed with an error.","allowReconnect":true})"));
  EXPECT_EQ(written(AckMessage{5}), rs(R"({"type":8,"sequenceId":5})"));
  EXPECT_EQ(written(SequenceMessage{3}), rs(R"({"type":9,"sequenceId":3})"));
}

TEST(JsonProtocol, WrittenMessagesParseBack) {
  InvocationMessage inv;
  inv.target = "T\"q";
  inv.arguments = {1, "two", nullptr};
  std::vector<HubMessage> out;
  ASSERT_TRUE(kJson.parse(written(inv), out, kMax).ok());
  EXPECT_EQ(std::get<InvocationMessage>(out[0]).target, "T\"q");
}

TEST(JsonProtocol, PreWrittenArgumentsAreCopiedAsTheyAre) {
  InvocationMessage text;
  text.target = "JobProgressUpdate";
  text.argumentsJson = R"([{"jobId":"j\"1","progress":12.5,"metadata":{}}])";
  InvocationMessage values;
  values.target = "JobProgressUpdate";
  values.arguments = {boost::json::object{
      {"jobId", "j\"1"}, {"progress", 12.5}, {"metadata", boost::json::object{}}}};
  EXPECT_EQ(written(text), written(values));
  EXPECT_EQ(
      written(text),
      rs(R"({"type":1,"target":"JobProgressUpdate","arguments":[{"jobId":"j\"1","progress":12.5,"metadata":{}}]})"));
}
