#pragma once
// Drives a hiredis async context from an Asio executor: hiredis says when it wants to
// read or write (addRead/delRead/addWrite/delWrite) and when it is done with the socket
// (cleanup); the adapter waits for the socket with stream_descriptor::async_wait and
// calls redisAsyncHandleRead/Write when it is ready. Nothing blocks: hiredis only ever
// reads and writes what the socket can take.
//
// Ownership: attach() gives the context a shared adapter (held through ac->ev.data until
// hiredis calls cleanup); every pending wait holds it too, so a wait that completes after
// the context was freed finds it detached and does nothing. The descriptor is released,
// never closed, on cleanup: the socket is hiredis's (redisFree closes it).
//
// Thread safety: everything runs on the executor given to attach(), which must be a
// strand or a single-threaded context, and the context's hiredis calls must run there too.
#include <boost/asio/any_io_executor.hpp>

struct redisAsyncContext;

namespace herald::backplane::redis {

// Attaches `ac` (connected or connecting, without an adapter yet) to `executor`.
void attachAsio(redisAsyncContext* ac, const boost::asio::any_io_executor& executor);

}  // namespace herald::backplane::redis
