#pragma once
// Small shared pieces of the load generator: the clock, a latency histogram and
// string helpers. Single-threaded by design: nothing here is synchronised.
#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace loadgen {

// Monotonic nanoseconds. Publish times and receive times both come from this clock in
// this one process, so latency needs no clock synchronisation.
inline std::int64_t nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSec = 1'000'000'000;

// Log-linear histogram of non-negative nanosecond values: 128 sub-buckets per power of
// two, so any recorded value is reported within 0.8 % (HdrHistogram's scheme, fixed
// precision). Covers 0 ns .. ~2^44 ns (4.8 hours); larger values clamp.
class Histogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kMaxExp = 44;
  static constexpr int kBuckets = (kMaxExp - kSubBits + 2) * kSub;

  Histogram() : counts_(kBuckets, 0) {}

  void record(std::int64_t v) {
    if (v < 0) v = 0;
    ++counts_[index(static_cast<std::uint64_t>(v))];
    ++total_;
    max_ = std::max(max_, v);
    sum_ += static_cast<double>(v);
  }
  void merge(const Histogram& o) {
    for (int i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    sum_ += o.sum_;
  }
  void reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    total_ = 0;
    max_ = 0;
    sum_ = 0;
  }
  std::uint64_t count() const { return total_; }
  std::int64_t max() const { return max_; }
  double mean() const { return total_ ? sum_ / double(total_) : 0; }

  // Value at quantile q (0..1): the midpoint of the bucket holding that rank.
  std::int64_t quantile(double q) const {
    if (!total_) return 0;
    auto rank = static_cast<std::uint64_t>(q * double(total_));
    if (rank >= total_) rank = total_ - 1;
    std::uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min<std::int64_t>(midpoint(i), max_);
    }
    return max_;
  }

 private:
  static int index(std::uint64_t v) {
    if (v < std::uint64_t(kSub)) return int(v);
    int e = 63 - __builtin_clzll(v);  // >= kSubBits
    if (e > kMaxExp) return kBuckets - 1;
    int sub = int((v >> (e - kSubBits)) & (kSub - 1));
    return (e - kSubBits + 1) * kSub + sub;
  }
  static std::int64_t midpoint(int i) {
    if (i < kSub) return i;
    int e = i / kSub + kSubBits - 1;
    int sub = i % kSub;
    std::int64_t lo = (std::int64_t(1) << e) + (std::int64_t(sub) << (e - kSubBits));
    std::int64_t width = std::int64_t(1) << (e - kSubBits);
    return lo + width / 2;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::int64_t max_ = 0;
  double sum_ = 0;
};

// Parses the decimal integer right after `key` (e.g. "\"seq\":") within [from, end).
// Returns false when the key is absent.
inline bool findInt(std::string_view text, std::string_view key, std::int64_t& out,
                    std::size_t from = 0) {
  auto pos = text.find(key, from);
  if (pos == std::string_view::npos) return false;
  const char* p = text.data() + pos + key.size();
  const char* e = text.data() + text.size();
  while (p < e && *p == ' ') ++p;
  auto [ptr, ec] = std::from_chars(p, e, out);
  return ec == std::errc() && ptr != p;
}

inline std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto pos = s.find(sep, start);
    if (pos == std::string_view::npos) pos = s.size();
    if (pos > start) out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  return out;
}

}  // namespace loadgen
