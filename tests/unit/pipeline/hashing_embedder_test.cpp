#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "pipeline/hashing_embedder.h"

using namespace herald::pipeline;

namespace {

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

}  // namespace

TEST(HashingEmbedder, HasDimension384AndUnitNorm) {
  HashingEmbedder e;
  EXPECT_EQ(e.dimension(), 384u);
  EXPECT_FALSE(e.name().empty());
  auto vs = e.embed({"The quick brown fox", "jumps over the lazy dog", "a"});
  ASSERT_EQ(vs.size(), 3u);
  for (const auto& v : vs) {
    ASSERT_EQ(v.size(), 384u);
    EXPECT_NEAR(norm(v), 1.0, 1e-5);
  }
}

TEST(HashingEmbedder, IdenticalTextHasCosineOne) {
  HashingEmbedder e;
  auto vs = e.embed({"Pocketsphinx transcribes speech", "pocketsphinx, TRANSCRIBES speech!"});
  EXPECT_NEAR(cosine(vs[0], vs[0]), 1.0f, 1e-6);
  // Case and punctuation are not part of the features.
  EXPECT_NEAR(cosine(vs[0], vs[1]), 1.0f, 1e-6);
  EXPECT_EQ(vs[0], HashingEmbedder::embedOne("Pocketsphinx transcribes speech"));  // stable
}

TEST(HashingEmbedder, RelatedTextsAreCloserThanUnrelated) {
  HashingEmbedder e;
  auto vs =
      e.embed({"how to cook pasta with tomato sauce", "cooking pasta in a simple tomato sauce",
               "quarterly revenue grew in the european market"});
  const float related = cosine(vs[0], vs[1]);
  const float unrelated = cosine(vs[0], vs[2]);
  EXPECT_GT(related, 0.3f);
  EXPECT_GT(related, unrelated + 0.2f);
}

TEST(HashingEmbedder, BigramsCaptureLocalWordOrder) {
  HashingEmbedder e;
  auto vs = e.embed({"dog bites man", "man bites dog"});
  const float c = cosine(vs[0], vs[1]);
  EXPECT_GT(c, 0.3f);  // same words
  EXPECT_LT(c, 0.9f);  // different pairs
}

TEST(HashingEmbedder, EmptyTextIsTheZeroVector) {
  HashingEmbedder e;
  auto vs = e.embed({"", "  ,.;!  ", "words"});
  EXPECT_EQ(vs[0], std::vector<float>(384, 0.0f));
  EXPECT_EQ(vs[1], std::vector<float>(384, 0.0f));
  EXPECT_EQ(cosine(vs[0], vs[2]), 0.0f);
  EXPECT_TRUE(e.embed({}).empty());
}

TEST(Cosine, HandlesEdgeCases) {
  EXPECT_NEAR(cosine({1, 0}, {0, 1}), 0.0f, 1e-7);
  EXPECT_NEAR(cosine({1, 2}, {-1, -2}), -1.0f, 1e-6);
  EXPECT_NEAR(cosine({3, 4}, {6, 8}), 1.0f, 1e-6);
  EXPECT_EQ(cosine({1, 2}, {1, 2, 3}), 0.0f);
  EXPECT_EQ(cosine({}, {}), 0.0f);
}
