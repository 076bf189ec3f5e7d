// Accumulates in double: 384 float products lose visible precision otherwise, and
// "identical texts have cosine 1" should hold to float precision.
#include "pipeline/embedder.h"

#include <algorithm>
#include <cmath>

namespace herald::pipeline {

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0.0f;
  double dot = 0;
  double normA = 0;
  double normB = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    normA += static_cast<double>(a[i]) * a[i];
    normB += static_cast<double>(b[i]) * b[i];
  }
  if (normA == 0 || normB == 0) return 0.0f;
  return static_cast<float>(std::clamp(dot / std::sqrt(normA * normB), -1.0, 1.0));
}

}  // namespace herald::pipeline
