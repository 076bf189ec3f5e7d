#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "pipeline/wer.h"

using namespace herald::pipeline;

TEST(WordErrorRate, CountsSubstitutionsDeletionsAndInsertions) {
  EXPECT_DOUBLE_EQ(wordErrorRate("the cat sat on the mat", "the cat sat on the mat"), 0.0);
  EXPECT_DOUBLE_EQ(wordErrorRate("the cat sat on the mat", "the cat sit on the mat"), 1.0 / 6);
  EXPECT_DOUBLE_EQ(wordErrorRate("the cat sat on the mat", "the cat on the mat"), 1.0 / 6);
  EXPECT_DOUBLE_EQ(wordErrorRate("the cat sat on the mat", "the cat sat on the red mat"), 1.0 / 6);
  EXPECT_DOUBLE_EQ(wordErrorRate("a b c d", "b c d e"), 2.0 / 4);  // delete a, insert e
  EXPECT_DOUBLE_EQ(wordErrorRate("a b", ""), 1.0);
  EXPECT_DOUBLE_EQ(wordErrorRate("a", "x y z"), 3.0);  // can exceed 1
}

TEST(WordErrorRate, NormalisesCaseAndPunctuation) {
  EXPECT_DOUBLE_EQ(wordErrorRate("Hello, World!", "hello world"), 0.0);
  EXPECT_DOUBLE_EQ(wordErrorRate("Don't stop-now.", "dont stop now"), 0.0);
  EXPECT_DOUBLE_EQ(wordErrorRate("  spaced   out\ttext\n", "spaced out text"), 0.0);
  EXPECT_EQ(normalizedWords("It's 3 o'clock, Mr. Smith"),
            (std::vector<std::string>{"its", "3", "oclock", "mr", "smith"}));
}

TEST(WordErrorRate, EmptyReferenceCountsAsOneWord) {
  EXPECT_DOUBLE_EQ(wordErrorRate("", ""), 0.0);
  EXPECT_DOUBLE_EQ(wordErrorRate("", "a b"), 2.0);
  EXPECT_DOUBLE_EQ(wordErrorRate("...", ""), 0.0);
}
