// The metrics kit: values move as observed, and the exposition text has the shape
// Prometheus reads (HELP/TYPE, cumulative _bucket{le} ending in +Inf, _sum, _count,
// escaped label values). The e2e suite runs promtool on the server's real output.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "metrics/metrics.h"

using namespace herald::metrics;

TEST(Metrics, HistogramBucketsAreCumulativeAndCountMatchesInf) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 2.0, 100.0}) h.observe(v);
  auto s = h.snapshot();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);  // le=0.1 includes 0.1 itself
  EXPECT_EQ(s.cumulative[1], 3u);
  EXPECT_EQ(s.cumulative[2], 4u);
  EXPECT_EQ(s.cumulative[3], 5u);
  EXPECT_EQ(s.count, 5u);
  EXPECT_DOUBLE_EQ(s.sum, 102.65);
}

TEST(Metrics, ConcurrentObservationsAreAllCounted) {
  Registry r;
  auto& c = r.counter("c_total", "c");
  auto& h = r.histogram("h_seconds", "h", {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(i % 2 ? 1.0 : 0.25);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  auto s = h.snapshot();
  EXPECT_EQ(s.count, 40000u);
  EXPECT_EQ(s.cumulative[0], 20000u);
  EXPECT_DOUBLE_EQ(s.sum, 20000 * 1.0 + 20000 * 0.25);
}

TEST(Metrics, ExpositionText) {
  Registry r;
  r.counter("x_total", "An x.\nSecond line \\ here").inc(3);
  r.gauge("g", "A gauge").set(2.5);
  auto& fam = r.counterFamily("rej_total", "Rejected", {"reason"});
  fam.with({"bad\"json\\\n"}).inc();
  fam.with({"a"}).inc(2);
  auto& hf = r.histogramFamily("d_seconds", "Durations", {"jobType", "outcome"}, {0.5, 2});
  hf.with({"t", "Completed"}).observe(1);
  const auto text = r.expose([](TextWriter& w) {
    w.family("extra", "gauge", "Scrape time");
    w.sample("extra", {{"k", "v"}}, 7);
  });
  EXPECT_EQ(text,
            "# HELP x_total An x.\\nSecond line \\\\ here\n"
            "# TYPE x_total counter\n"
            "x_total 3\n"
            "# HELP g A gauge\n"
            "# TYPE g gauge\n"
            "g 2.5\n"
            "# HELP rej_total Rejected\n"
            "# TYPE rej_total counter\n"
            "rej_total{reason=\"a\"} 2\n"
            "rej_total{reason=\"bad\\\"json\\\\\\n\"} 1\n"
            "# HELP d_seconds Durations\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{jobType=\"t\",outcome=\"Completed\",le=\"0.5\"} 0\n"
            "d_seconds_bucket{jobType=\"t\",outcome=\"Completed\",le=\"2\"} 1\n"
            "d_seconds_bucket{jobType=\"t\",outcome=\"Completed\",le=\"+Inf\"} 1\n"
            "d_seconds_sum{jobType=\"t\",outcome=\"Completed\"} 1\n"
            "d_seconds_count{jobType=\"t\",outcome=\"Completed\"} 1\n"
            "# HELP extra Scrape time\n"
            "# TYPE extra gauge\n"
            "extra{k=\"v\"} 7\n");
}

TEST(Metrics, ExponentialBuckets) {
  EXPECT_EQ(exponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}
