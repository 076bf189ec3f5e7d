#pragma once
// A small Prometheus-style metrics kit: counters, gauges and fixed-bucket histograms,
// optionally in labelled families, and the text exposition format (0.0.4) that
// Prometheus scrapes and `promtool check metrics` accepts.
//
// Hot paths only touch atomics: a Counter is one relaxed add, a Histogram observation a
// short bucket scan and three relaxed adds. Looking a labelled child up takes the
// family's mutex: callers on hot paths keep the reference (children live as long as
// their family, which never removes one).
//
// Thread safety: everything may be used from any thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace herald::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: the buckets' upper bounds, ascending (+Inf is implied).
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  // Read without stopping writers: the count is derived from the buckets, so it always
  // equals the +Inf bucket (the sum may be a few observations behind).
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

// Bucket bounds: `count` values from `start`, each `factor` times the previous.
std::vector<double> exponentialBuckets(double start, double factor, int count);

// Writes the text exposition format.
class TextWriter {
 public:
  // Starts a metric family; `type` is counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void histogram(std::string_view name, const Labels& labels, const Histogram::Snapshot& s);
  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// A metric with labels: one child per distinct label values.
template <class M>
class Family {
 public:
  Family(std::vector<std::string> labelNames, std::function<std::unique_ptr<M>()> make)
      : labelNames_(std::move(labelNames)), make_(std::move(make)) {}

  // The child for these label values (as many as label names), made on first use.
  M& with(const std::vector<std::string>& values) {
    std::lock_guard lock(mutex_);
    auto& slot = children_[values];
    if (!slot) slot = make_();
    return *slot;
  }

  // Calls f(labels, child) for every child, in label order.
  template <class F>
  void forEach(F f) const {
    std::lock_guard lock(mutex_);
    for (const auto& [values, child] : children_) {
      Labels labels;
      for (std::size_t i = 0; i < labelNames_.size() && i < values.size(); ++i) {
        labels.emplace_back(labelNames_[i], values[i]);
      }
      f(labels, *child);
    }
  }

 private:
  const std::vector<std::string> labelNames_;
  const std::function<std::unique_ptr<M>()> make_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_;
};

// Owns metrics and writes them, in registration order, with the values of scrape-time
// collectors (gauges read from elsewhere: a store count, a registry's size).
class Registry {
 public:
  Counter& counter(std::string name, std::string help);
  Gauge& gauge(std::string name, std::string help);
  Histogram& histogram(std::string name, std::string help, std::vector<double> bounds);
  Family<Counter>& counterFamily(std::string name, std::string help,
                                 std::vector<std::string> labelNames);
  Family<Histogram>& histogramFamily(std::string name, std::string help,
                                     std::vector<std::string> labelNames,
                                     std::vector<double> bounds);

  // The whole exposition: registered metrics, then `extra` (scrape-time families).
  std::string expose(const std::function<void(TextWriter&)>& extra = {}) const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    std::function<void(TextWriter&, const Entry&)> write;
  };
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::shared_ptr<void>> owned_;
};

}  // namespace herald::metrics
