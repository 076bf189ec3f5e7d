#include "metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace herald::metrics {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double value) {
  // Few buckets (a dozen or so): a linear scan beats a binary search's branches.
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> exponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

namespace {

void appendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
void appendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

// HELP text escapes backslash and line feed.
void appendHelp(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void appendLabels(std::string& out, const Labels& labels, std::string_view le = {}) {
  if (labels.empty() && le.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    appendLabelValue(out, v);
    out += '"';
  }
  if (!le.empty()) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

}  // namespace

void TextWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  appendHelp(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void TextWriter::sample(std::string_view name, const Labels& labels, double value) {
  out_ += name;
  appendLabels(out_, labels);
  out_ += ' ';
  appendValue(out_, value);
  out_ += '\n';
}

void TextWriter::histogram(std::string_view name, const Labels& labels,
                           const Histogram::Snapshot& s) {
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < s.cumulative.size(); ++i) {
    std::string le;
    if (i < s.bounds.size())
      appendValue(le, s.bounds[i]);
    else
      le = "+Inf";
    out_ += bucket;
    appendLabels(out_, labels, le);
    out_ += ' ';
    appendValue(out_, static_cast<double>(s.cumulative[i]));
    out_ += '\n';
  }
  sample(std::string(name) + "_sum", labels, s.sum);
  sample(std::string(name) + "_count", labels, static_cast<double>(s.count));
}

Counter& Registry::counter(std::string name, std::string help) {
  auto c = std::make_shared<Counter>();
  auto* raw = c.get();
  std::lock_guard lock(mutex_);
  owned_.push_back(c);
  entries_.push_back(std::make_unique<Entry>(
      Entry{std::move(name), std::move(help), [raw](TextWriter& w, const Entry& e) {
              w.family(e.name, "counter", e.help);
              w.sample(e.name, {}, static_cast<double>(raw->value()));
            }}));
  return *raw;
}

Gauge& Registry::gauge(std::string name, std::string help) {
  auto g = std::make_shared<Gauge>();
  auto* raw = g.get();
  std::lock_guard lock(mutex_);
  owned_.push_back(g);
  entries_.push_back(std::make_unique<Entry>(
      Entry{std::move(name), std::move(help), [raw](TextWriter& w, const Entry& e) {
              w.family(e.name, "gauge", e.help);
              w.sample(e.name, {}, raw->value());
            }}));
  return *raw;
}

Histogram& Registry::histogram(std::string name, std::string help, std::vector<double> bounds) {
  auto h = std::make_shared<Histogram>(std::move(bounds));
  auto* raw = h.get();
  std::lock_guard lock(mutex_);
  owned_.push_back(h);
  entries_.push_back(std::make_unique<Entry>(
      Entry{std::move(name), std::move(help), [raw](TextWriter& w, const Entry& e) {
              w.family(e.name, "histogram", e.help);
              w.histogram(e.name, {}, raw->snapshot());
            }}));
  return *raw;
}

Family<Counter>& Registry::counterFamily(std::string name, std::string help,
                                         std::vector<std::string> labelNames) {
  auto f = std::make_shared<Family<Counter>>(std::move(labelNames),
                                             [] { return std::make_unique<Counter>(); });
  auto* raw = f.get();
  std::lock_guard lock(mutex_);
  owned_.push_back(f);
  entries_.push_back(std::make_unique<Entry>(
      Entry{std::move(name), std::move(help), [raw](TextWriter& w, const Entry& e) {
              w.family(e.name, "counter", e.help);
              raw->forEach([&](const Labels& labels, const Counter& c) {
                w.sample(e.name, labels, static_cast<double>(c.value()));
              });
            }}));
  return *raw;
}

Family<Histogram>& Registry::histogramFamily(std::string name, std::string help,
                                             std::vector<std::string> labelNames,
                                             std::vector<double> bounds) {
  auto f = std::make_shared<Family<Histogram>>(std::move(labelNames), [bounds = std::move(bounds)] {
    return std::make_unique<Histogram>(bounds);
  });
  auto* raw = f.get();
  std::lock_guard lock(mutex_);
  owned_.push_back(f);
  entries_.push_back(std::make_unique<Entry>(
      Entry{std::move(name), std::move(help), [raw](TextWriter& w, const Entry& e) {
              w.family(e.name, "histogram", e.help);
              raw->forEach([&](const Labels& labels, const Histogram& h) {
                w.histogram(e.name, labels, h.snapshot());
              });
            }}));
  return *raw;
}

std::string Registry::expose(const std::function<void(TextWriter&)>& extra) const {
  TextWriter w;
  {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_) e->write(w, *e);
  }
  if (extra) extra(w);
  return w.take();
}

}  // namespace herald::metrics
