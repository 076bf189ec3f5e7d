#pragma once
// Wires Herald together and owns the start/stop order:
//   start: store -> backplane -> hub -> API -> listener
//   stop (SIGINT/SIGTERM): stop accepting -> Close{allowReconnect} to every hub
//   connection -> wait for in-flight requests and sockets (bounded) -> stop I/O -> store.
#include "config/config.h"

namespace herald::server {

// Runs until a stop signal; returns the process exit code.
int runServer(const config::Config& config);

}  // namespace herald::server
