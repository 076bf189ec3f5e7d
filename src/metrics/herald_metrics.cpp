#include "metrics/herald_metrics.h"

namespace herald::metrics {

namespace {
// Seconds: sub-millisecond fan-out up to multi-second stalls.
std::vector<double> latencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
// Seconds: a quick external job up to a long transcription.
std::vector<double> jobBuckets() {
  return {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
}
}  // namespace

HeraldMetrics::HeraldMetrics()
    : deliveryLatency(registry.histogram(
          "herald_delivery_latency_seconds",
          "From a progress change recorded to the frame carrying it written to a client "
          "(oldest frame of each written batch).",
          latencyBuckets())),
      jobDuration(registry.histogramFamily(
          "herald_job_duration_seconds",
          "Job run time, from claimed (or started) to its end, by job type and outcome.",
          {"job_type", "outcome"}, jobBuckets())),
      queueWait(registry.histogramFamily(
          "herald_job_queue_wait_seconds",
          "Time a job waited in the queue: claim time minus creation (or last re-queue) time.",
          {"job_type"}, jobBuckets())),
      reports(registry.counter("herald_progress_reports_total",
                               "Progress reports accepted (REST workers and the built-in "
                               "pipeline).")),
      framesWritten(registry.counter("herald_hub_frames_written_total",
                                     "Hub frames written to client transports (deliveries).")),
      coalesced(registry.counter("herald_progress_coalesced_total",
                                 "Pipeline progress updates folded into a later one (rate "
                                 "limit).")),
      rejected(registry.counterFamily("herald_http_requests_rejected_total",
                                      "HTTP requests refused, by reason.", {"reason"})),
      backplane(registry.counterFamily("herald_backplane_envelopes_total",
                                       "Backplane envelopes by direction.", {"direction"})),
      redis(registry.counterFamily(
          "herald_backplane_redis_events_total",
          "Redis backplane events: reconnect, gap_fill_reconnect, gap_fill_gap, filled, "
          "publish_dropped, publish_failed, malformed.",
          {"event"})),
      redisConnected(registry.gauge("herald_backplane_redis_connected",
                                    "1 while both Redis connections (commands, subscriber) "
                                    "are up; 0 otherwise (and without Redis).")),
      connectionsOpen(registry.gauge(
          "herald_connections_open",
          "Hub connections counted by the connection limits (Limits:MaxConnections): "
          "negotiated, connected or not, until disposed.")),
      cluster(registry.counterFamily(
          "herald_cluster_requests_total",
          "Hub requests of connections held by another node: forwarded to their owner, "
          "owner_unreachable (answered 404), websocket_from_peer (connection made here).",
          {"event"})) {}

HeraldMetrics& herald() {
  static HeraldMetrics instance;
  return instance;
}

void batchWritten(std::size_t frames, std::int64_t oldestStamp) {
  auto& m = herald();
  m.framesWritten.inc(frames);
  if (oldestStamp != 0) {
    m.deliveryLatency.observe(static_cast<double>(steadyNanos() - oldestStamp) * 1e-9);
  }
}

void rejected(const std::string& reason) { herald().rejected.with({reason}).inc(); }

void clusterEvent(const std::string& event) { herald().cluster.with({event}).inc(); }

}  // namespace herald::metrics
