#pragma once
// `herald ingest URL` and `herald watch JOB_ID`: clients of a running Herald. They use
// the REST API to submit and the hub (negotiate, WebSocket, JSON hub protocol) to draw a
// live progress bar in the terminal until the job ends.
#include <string>

namespace herald::cli {

struct ClientOptions {
  std::string server = "http://localhost:5000";
  bool plain = false;  // one line per update instead of a redrawn bar (for logs, pipes)
};

// Exit codes: 0 completed, 1 failed or cancelled, 2 usage/connection error, 3 not found.
int ingestCommand(const std::string& url, const std::string& userId, int priority, bool watch,
                  const ClientOptions& options);
int watchCommand(const std::string& jobId, const ClientOptions& options);

}  // namespace herald::cli
