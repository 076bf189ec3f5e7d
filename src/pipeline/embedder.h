#pragma once
// The text-embedding seam: transcripts and queries become fixed-length vectors compared by
// cosine similarity. Search code depends on this interface so that a learned model can
// replace the hashing baseline without changing callers.
#include <cstddef>
#include <string>
#include <vector>

namespace herald::pipeline {

class Embedder {
 public:
  virtual ~Embedder() = default;

  // One vector of dimension() floats per input text, in input order.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) = 0;
  virtual std::size_t dimension() const = 0;
  // Identifies the vector space; vectors from different names must not be compared.
  virtual std::string name() const = 0;
};

// Cosine similarity in [-1, 1]. Returns 0 when either vector is all zeros or their sizes
// differ (incomparable vectors are "unrelated" rather than an error).
float cosine(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace herald::pipeline
