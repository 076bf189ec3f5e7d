#pragma once
// A dependency-free embedder: the "hashing trick" over words and word pairs. It needs no
// model download and is deterministic across runs, machines and versions of this build,
// which makes it a safe default and a baseline for a learned model.
//
// What it captures: lexical overlap. Texts sharing words (after lower-casing ASCII and
// splitting on anything that is not a letter or digit) score high; adjacent word pairs
// (bigrams) add local word order, so "dog bites man" and "man bites dog" are similar but
// not identical. What it does not: meaning. Synonyms ("car"/"automobile"), inflections
// ("run"/"running") and paraphrases look unrelated, and distinct words can collide in a
// bucket (384 buckets; the sign bit halves the damage of collisions on average).
//
// Vector: dimension 384; each unigram and bigram is hashed with 64-bit FNV-1a into a bucket
// (hash mod 384) with sign +1/-1 from the hash's top bit, weighted 1 + ln(tf) (repeats
// count sublinearly), then the vector is L2-normalised. A text with no tokens gives the
// zero vector. Non-ASCII bytes (UTF-8) are kept inside tokens, so other scripts still
// match themselves, though without case folding.
//
// Thread safety: stateless; embed may be called concurrently.
#include "pipeline/embedder.h"

namespace herald::pipeline {

class HashingEmbedder final : public Embedder {
 public:
  static constexpr std::size_t kDimension = 384;

  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts) override;
  std::size_t dimension() const override { return kDimension; }
  std::string name() const override { return "hashing-fnv1a-384-v1"; }

  // The same, for one text.
  static std::vector<float> embedOne(const std::string& text);
};

}  // namespace herald::pipeline
