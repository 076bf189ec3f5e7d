#include "backplane/redis/hiredis_asio_adapter.h"

#include <memory>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <hiredis/async.h>

namespace herald::backplane::redis {

namespace asio = boost::asio;

namespace {

class Adapter : public std::enable_shared_from_this<Adapter> {
 public:
  Adapter(redisAsyncContext* ac, const asio::any_io_executor& executor)
      : ac_(ac), socket_(executor, ac->c.fd) {}

  static Adapter& of(void* data) { return **static_cast<std::shared_ptr<Adapter>*>(data); }

  void addRead() {
    wantRead_ = true;
    armRead();
  }
  // A wait already pending stays: when it completes it sees wantRead_ off and returns.
  void delRead() { wantRead_ = false; }
  void addWrite() {
    wantWrite_ = true;
    armWrite();
  }
  void delWrite() { wantWrite_ = false; }

  // hiredis is done with the socket (the context is being freed).
  void cleanup() {
    ac_ = nullptr;
    wantRead_ = wantWrite_ = false;
    boost::system::error_code ignored;
    socket_.cancel(ignored);
    (void)socket_.release();  // the descriptor is hiredis's to close
  }

 private:
  void armRead() {
    if (readPending_ || !ac_) return;
    readPending_ = true;
    socket_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         self->readPending_ = false;
                         if (ec || !self->ac_ || !self->wantRead_) return;
                         // May free the context (a lost connection): cleanup() then
                         // detaches this adapter before the call returns.
                         redisAsyncHandleRead(self->ac_);
                         if (self->ac_ && self->wantRead_) self->armRead();
                       });
  }

  void armWrite() {
    if (writePending_ || !ac_) return;
    writePending_ = true;
    socket_.async_wait(asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this()](const boost::system::error_code& ec) {
                         self->writePending_ = false;
                         if (ec || !self->ac_ || !self->wantWrite_) return;
                         redisAsyncHandleWrite(self->ac_);
                         if (self->ac_ && self->wantWrite_) self->armWrite();
                       });
  }

  redisAsyncContext* ac_;
  asio::posix::stream_descriptor socket_;
  bool wantRead_ = false;
  bool wantWrite_ = false;
  bool readPending_ = false;
  bool writePending_ = false;
};

}  // namespace

void attachAsio(redisAsyncContext* ac, const asio::any_io_executor& executor) {
  auto* holder = new std::shared_ptr<Adapter>(std::make_shared<Adapter>(ac, executor));
  ac->ev.data = holder;
  ac->ev.addRead = [](void* d) { Adapter::of(d).addRead(); };
  ac->ev.delRead = [](void* d) { Adapter::of(d).delRead(); };
  ac->ev.addWrite = [](void* d) { Adapter::of(d).addWrite(); };
  ac->ev.delWrite = [](void* d) { Adapter::of(d).delWrite(); };
  ac->ev.cleanup = [](void* d) {
    auto* h = static_cast<std::shared_ptr<Adapter>*>(d);
    (*h)->cleanup();
    delete h;  // pending waits still hold the adapter; it goes with the last of them
  };
}

}  // namespace herald::backplane::redis
