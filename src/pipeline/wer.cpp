// Two-row dynamic programme: only the previous row of the edit-distance table is needed,
// so long transcripts cost memory proportional to the hypothesis alone.
#include "pipeline/wer.h"

#include <algorithm>
#include <numeric>

namespace herald::pipeline {

std::vector<std::string> normalizedWords(std::string_view text) {
  std::vector<std::string> words;
  std::string current;
  for (unsigned char c : text) {
    const bool alnum =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
    if (alnum) {
      current += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    } else if (c == '\'') {
      continue;  // joins contractions instead of splitting them
    } else if (!current.empty()) {
      words.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) words.push_back(std::move(current));
  return words;
}

double wordErrorRate(const std::string& reference, const std::string& hypothesis) {
  const auto ref = normalizedWords(reference);
  const auto hyp = normalizedWords(hypothesis);
  // prev[j] = edit distance between the first i reference words and first j hypothesis words.
  std::vector<std::size_t> prev(hyp.size() + 1);
  std::vector<std::size_t> cur(hyp.size() + 1);
  std::iota(prev.begin(), prev.end(), std::size_t{0});
  for (std::size_t i = 1; i <= ref.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= hyp.size(); ++j) {
      const std::size_t substitute = prev[j - 1] + (ref[i - 1] == hyp[j - 1] ? 0 : 1);
      cur[j] = std::min({substitute, prev[j] + 1, cur[j - 1] + 1});
    }
    std::swap(prev, cur);
  }
  const double errors = static_cast<double>(prev[hyp.size()]);
  return errors / static_cast<double>(std::max<std::size_t>(ref.size(), 1));
}

}  // namespace herald::pipeline
