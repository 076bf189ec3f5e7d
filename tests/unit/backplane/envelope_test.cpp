// The backplane envelope's byte form: round trips, and refusal of every truncation and of
// bytes that are not an envelope.
#include <gtest/gtest.h>

#include "backplane/envelope.h"

using namespace herald::backplane;

namespace {

Envelope sample() {
  Envelope e;
  e.target = Target::group("job-42");
  e.event = "JobProgressUpdate";
  e.argumentsJson = R"([{"jobId":"42","progress":12.5,"note":"a\u0000b"}])";
  e.ordering = Ordering{"42", 7};
  e.origin = "node-a";
  return e;
}

void expectSame(const Envelope& a, const Envelope& b) {
  EXPECT_EQ(a.target.kind, b.target.kind);
  EXPECT_EQ(a.target.name, b.target.name);
  EXPECT_EQ(a.event, b.event);
  EXPECT_EQ(a.origin, b.origin);
  EXPECT_EQ(a.argumentsJson, b.argumentsJson);
  ASSERT_EQ(a.ordering.has_value(), b.ordering.has_value());
  if (a.ordering) {
    EXPECT_EQ(a.ordering->jobId, b.ordering->jobId);
    EXPECT_EQ(a.ordering->sequence, b.ordering->sequence);
  }
}

}  // namespace

TEST(Envelope, RoundTripsEveryTargetKind) {
  for (auto target : {Target::all(), Target::group("video-1"), Target::connection("c1")}) {
    auto e = sample();
    e.target = target;
    auto decoded = decodeEnvelope(encodeEnvelope(e));
    ASSERT_TRUE(decoded);
    expectSame(*decoded, e);
  }
  auto unordered = sample();
  unordered.ordering.reset();
  unordered.argumentsJson = std::string("[\"\xff\x00\"]", 5);  // bytes pass through as they are
  auto decoded = decodeEnvelope(encodeEnvelope(unordered));
  ASSERT_TRUE(decoded);
  expectSame(*decoded, unordered);
}

TEST(Envelope, NegativeAndLargeSequencesSurvive) {
  auto e = sample();
  e.ordering->sequence = -1;
  EXPECT_EQ(decodeEnvelope(encodeEnvelope(e))->ordering->sequence, -1);
  e.ordering->sequence = INT64_MAX;
  EXPECT_EQ(decodeEnvelope(encodeEnvelope(e))->ordering->sequence, INT64_MAX);
}

TEST(Envelope, EveryTruncationAndExtensionIsRefused) {
  const auto bytes = encodeEnvelope(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(decodeEnvelope(std::string_view(bytes).substr(0, n))) << "cut at " << n;
  }
  EXPECT_FALSE(decodeEnvelope(bytes + "x"));
}

TEST(Envelope, ForeignBytesAreRefused) {
  EXPECT_FALSE(decodeEnvelope(""));
  EXPECT_FALSE(decodeEnvelope("HB2G"));
  EXPECT_FALSE(decodeEnvelope(R"({"target":"job-1"})"));
  auto bytes = encodeEnvelope(sample());
  bytes[3 + 4 + 6] = 'X';  // an unknown target kind (after the magic and the origin)
  EXPECT_FALSE(decodeEnvelope(bytes));
  // A length that claims more than is there.
  auto huge = std::string("HB2") + std::string("\xff\xff\xff\x7f", 4) + "abc";
  EXPECT_FALSE(decodeEnvelope(huge));
  // The previous version (no origin) is another format, refused whole.
  auto old = encodeEnvelope(sample());
  old[2] = '1';
  EXPECT_FALSE(decodeEnvelope(old));
}
