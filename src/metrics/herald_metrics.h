#pragma once
// Herald's own metrics, one set per process (as Prometheus client libraries keep a
// default registry): the layers that observe them (jobs, hub, transports, HTTP) need no
// plumbing, and GET /metrics writes them with the scrape-time gauges (api/rest_api.cpp).
// Names and meanings: docs/operations.md.
#include <chrono>
#include <cstdint>
#include <string>

#include "metrics/metrics.h"

namespace herald::metrics {

struct HeraldMetrics {
  Registry registry;
  // Report accepted (the jobs layer recorded the change) -> the frame carrying it
  // written to a client's socket; observed once per written batch per connection, for the
  // batch's oldest such frame.
  Histogram& deliveryLatency;
  Family<Histogram>& jobDuration;  // job_type, outcome
  Family<Histogram>& queueWait;    // job_type
  Counter& reports;
  Counter& framesWritten;
  Counter& coalesced;
  Family<Counter>& rejected;   // reason
  Family<Counter>& backplane;  // direction: published | received
  // The Redis backplane's events (docs/operations.md): reconnect, gap_fill (reason:
  // reconnect | gap), filled (updates delivered from the store), publish_dropped (queue
  // full while Redis was away), publish_failed, malformed (bytes that were no envelope).
  Family<Counter>& redis;  // event
  Gauge& redisConnected;   // 1 while both Redis connections are up
  // Hub connections holding a place in the connection limits: from negotiate (or a
  // WebSocket that skips it) until disposed, so negotiated but never connected ones too.
  Gauge& connectionsOpen;
  // Requests of a cluster node for connections it does not hold, by event: forwarded (to
  // the owner), owner_unreachable (answered 404), websocket_from_peer (made here from
  // another node's token).
  Family<Counter>& cluster;

  HeraldMetrics();
};

HeraldMetrics& herald();

// Steady-clock nanoseconds: the stamps frames carry (0 means "not stamped").
inline std::int64_t steadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A transport wrote `frames` frames; `oldestStamp` is the steadyNanos() the oldest
// stamped one carried, or 0.
void batchWritten(std::size_t frames, std::int64_t oldestStamp);

// A request refused before any handler ran or by one (oversize body, bad JSON, ...).
void rejected(const std::string& reason);

// A cluster node's event (HeraldMetrics::cluster).
void clusterEvent(const std::string& event);

}  // namespace herald::metrics
