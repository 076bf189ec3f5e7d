// Design: features are hashed, counted, then weighted, rather than weighted as they are
// seen, because sublinear tf needs the final count per feature. Bigrams are hashed as
// "a b" with a leading marker byte so a bigram never shares a hash with a unigram.
#include "pipeline/hashing_embedder.h"

#include <cmath>
#include <cstdint>
#include <string_view>
#include <unordered_map>

namespace herald::pipeline {
namespace {

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;
constexpr char kBigramMarker = '\x02';

std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = kFnvOffset) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

bool isTokenByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

std::vector<std::string> tokenize(const std::string& text) {
  std::vector<std::string> tokens;
  std::string current;
  for (unsigned char c : text) {
    if (isTokenByte(c)) {
      current += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    } else if (!current.empty()) {
      tokens.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) tokens.push_back(std::move(current));
  return tokens;
}

}  // namespace

std::vector<float> HashingEmbedder::embedOne(const std::string& text) {
  const auto tokens = tokenize(text);
  std::unordered_map<std::uint64_t, int> counts;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    ++counts[fnv1a(tokens[i])];
    if (i + 1 < tokens.size()) {
      std::uint64_t h = fnv1a(std::string_view(&kBigramMarker, 1));
      h = fnv1a(tokens[i], h);
      h = fnv1a(" ", h);
      ++counts[fnv1a(tokens[i + 1], h)];
    }
  }
  std::vector<double> acc(kDimension, 0.0);
  for (const auto& [hash, tf] : counts) {
    const double weight = 1.0 + std::log(static_cast<double>(tf));
    acc[hash % kDimension] += (hash >> 63) ? -weight : weight;
  }
  double norm = 0;
  for (double v : acc) norm += v * v;
  norm = std::sqrt(norm);
  std::vector<float> out(kDimension, 0.0f);
  // Colliding features can cancel exactly; then, like an empty text, the vector stays zero.
  if (norm > 0) {
    for (std::size_t i = 0; i < kDimension; ++i) out[i] = static_cast<float>(acc[i] / norm);
  }
  return out;
}

std::vector<std::vector<float>> HashingEmbedder::embed(const std::vector<std::string>& texts) {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(embedOne(t));
  return out;
}

}  // namespace herald::pipeline
