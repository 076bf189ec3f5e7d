// The byte form of a mirrored session: frames and records survive a round trip exactly
// (binary frame bytes included), and malformed text decodes to nothing rather than to a
// partial value an adopter would replay.
#include <gtest/gtest.h>

#include "hub/session_codec.h"

using namespace herald::hub;

namespace {

MirroredFrame frame(std::int64_t seq, std::string job, std::int64_t jobSeq, std::string bytes) {
  return MirroredFrame{seq, std::move(job), jobSeq,
                       std::make_shared<const Frame>(std::move(bytes))};
}

}  // namespace

TEST(SessionCodec, FrameRoundTripKeepsBinaryBytesAndJob) {
  std::string binary("\x94\x01\x80\xc0\x00:\x1e", 7);  // MessagePack-ish, with a NUL and ':'
  auto f = frame(42, "0b6c-job:with:colons", 7, binary);
  auto text = encodeMirroredFrame(f);
  auto back = decodeMirroredFrame(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->sequence, 42);
  EXPECT_EQ(back->jobId, "0b6c-job:with:colons");
  EXPECT_EQ(back->jobSequence, 7);
  EXPECT_EQ(*back->bytes, binary);
}

TEST(SessionCodec, FrameWithoutJob) {
  auto back = decodeMirroredFrame(encodeMirroredFrame(frame(1, "", 0, "{\"type\":1}\x1e")));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->jobId, "");
  EXPECT_EQ(*back->bytes, "{\"type\":1}\x1e");
}

TEST(SessionCodec, MalformedFramesDecodeToNothing) {
  for (const char* bad : {"", "1", "1:2", "1:2:3", "x:0:0:abc", "0:0:0:abc", "-1:0:0:abc",
                          "1:0:99:short", "1:0:3:abc", "1:-4:0:abc", "1:0:+3:abc"}) {
    EXPECT_FALSE(decodeMirroredFrame(bad)) << bad;
  }
}

TEST(SessionCodec, RecordRoundTrip) {
  SessionState s;
  s.connectionId = "conn-1";
  s.protocol = "messagepack";
  s.principal.userId = "alice";
  s.principal.roles = {"admin", "worker"};
  s.principal.authenticated = true;
  s.principal.expiresAt = 1900000000;
  s.totalSent = 17;
  s.groups = {"job-a", "user-alice"};
  s.jobMarks = {{"a", 12}};
  auto fields = encodeSessionRecord(s, "node-1", 3);
  auto back = decodeSessionRecord(fields);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->epoch, 3);
  EXPECT_EQ(back->state.connectionId, "conn-1");
  EXPECT_EQ(back->state.protocol, "messagepack");
  EXPECT_EQ(back->state.principal.userId, "alice");
  EXPECT_EQ(back->state.principal.roles, (std::vector<std::string>{"admin", "worker"}));
  EXPECT_TRUE(back->state.principal.authenticated);
  EXPECT_FALSE(back->state.principal.apiKey);
  EXPECT_EQ(back->state.principal.expiresAt, 1900000000);
  EXPECT_EQ(back->state.totalSent, 17);
  EXPECT_EQ(back->state.groups, s.groups);
  EXPECT_EQ(back->state.jobMarks, s.jobMarks);
}

TEST(SessionCodec, RecordWithoutRequiredFieldsOrWithBadNumbersIsRefused) {
  SessionState s;
  s.connectionId = "c";
  s.protocol = "json";
  auto fields = encodeSessionRecord(s, "n", 1);
  ASSERT_TRUE(decodeSessionRecord(fields));
  for (const char* required : {"id", "proto", "epoch", "total"}) {
    RecordFields without;
    for (const auto& f : fields) {
      if (f.first != required) without.push_back(f);
    }
    EXPECT_FALSE(decodeSessionRecord(without)) << required;
  }
  auto bad = fields;
  bad.emplace_back("j:job", "twelve");
  EXPECT_FALSE(decodeSessionRecord(bad));
}
