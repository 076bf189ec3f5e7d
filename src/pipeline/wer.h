#pragma once
// Word error rate, the standard accuracy measure for speech recognition: (substitutions +
// deletions + insertions) / words in the reference. Used by tests and to monitor a
// recogniser against known transcripts.
#include <string>
#include <string_view>
#include <vector>

namespace herald::pipeline {

// Lower-cases ASCII, drops apostrophes ("don't" == "dont") and treats every other
// character that is not a letter or digit as a separator. Non-ASCII bytes stay in words.
std::vector<std::string> normalizedWords(std::string_view text);

// Levenshtein distance over normalised words divided by the reference word count. 0 is
// perfect; it can exceed 1 when the hypothesis has many extra words. An empty reference
// counts as one word, so ("", "") is 0 and ("", "a b") is 2. Memory is linear and time is
// O(reference words x hypothesis words).
double wordErrorRate(const std::string& reference, const std::string& hypothesis);

}  // namespace herald::pipeline
