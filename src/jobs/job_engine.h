#pragma once
// The durable job engine: a bounded pool of worker threads that claim the highest-
// priority runnable job from the store (FIFO within a priority), run its processor, and
// record the outcome. Jobs are in the store before anyone is told they exist, so a crash
// loses none: at start-up, jobs left Running by this node (or with no live lease) are
// re-queued (or failed once they have used their attempts, since the attempt is counted
// when a job starts).
//
// Leases (several nodes on one store): a claim leases the job to this node for
// Jobs:LeaseSeconds; a keeper thread renews each running job's lease every third of that
// and checks its jobs once a second: a job cancelled by another node, or taken over after
// its lease expired (this node stalled), is stopped, and its processor's further reports
// are refused by the lease token (ProgressReport::fenced). On stop() the running jobs
// are given back (Pending at once) for other nodes to take.
//
// Thread safety: public members may be called from any thread. cancelOnStore() must
// run on the storage executor (it is ordered with claims there).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jobs/processor.h"
#include "jobs/progress_service.h"

namespace herald::jobs {

struct EngineOptions {
  bool enabled = true;                             // AppSettings:EnableBackgroundJobs
  int workers = 2;                                 // Jobs:WorkerCount
  double maxUpdatesPerSecond = 10;                 // Jobs:MaxProgressUpdatesPerSecond
  std::chrono::milliseconds retryBaseDelay{2000};  // doubled per attempt
  std::chrono::milliseconds idlePoll{500};         // also picks up retries coming due
  std::string nodeId = "herald";                   // Herald:NodeId: the leases' owner
  std::chrono::milliseconds leaseLength{30000};    // Jobs:LeaseSeconds
  std::chrono::milliseconds leaseCheck{1000};      // how soon a remote cancel is noticed
};

enum class CancelOutcome { Cancelled, Cancelling, NotFound, AlreadyFinished };

class JobEngine {
 public:
  JobEngine(ProgressService& service, EngineOptions options);
  ~JobEngine();

  void registerProcessor(const std::string& jobType, ProcessorPtr processor);
  // Recovers interrupted jobs, then starts the workers (if enabled).
  void start();
  // Stops claiming, tells running processors to stop, joins the workers. Jobs they
  // leave Running are re-queued at the next start.
  void stop();
  void wake();  // a job was queued
  // Another node says `jobId` changed under us (cancelled there): when this node runs it,
  // its lease is checked now rather than at the next check (the store decides; a wrong
  // or forged signal costs one read).
  void checkSoon(const std::string& jobId);

  // Storage executor only. A running job is signalled (its worker records Cancelled);
  // a pending or waiting one is recorded Cancelled at once. A pipeline job takes its
  // unfinished child jobs with it.
  CancelOutcome cancelOnStore(const std::string& jobId);

  // Says whether a job is being run by a worker right now.
  bool running(const std::string& jobId) const;

 private:
  // One job a worker runs: its stop signal and its lease.
  struct RunningJob {
    std::atomic<bool> cancel{false};
    std::atomic<bool> lost{false};  // cancelled elsewhere or taken over: record nothing
    std::string leaseToken;
    std::int64_t renewedAt = 0;  // keeper thread only
  };

  void workerLoop(int index);
  void keeperLoop();
  void checkLeases();
  void runJob(const model::Job& job);
  CancelOutcome cancelOne(storage::Store& store, const model::Job& job);

  ProgressService& service_;
  const EngineOptions options_;
  std::map<std::string, ProcessorPtr> processors_;

  mutable std::mutex mutex_;
  std::condition_variable wakeup_;
  std::condition_variable keeperWakeup_;  // its own: wake() must reach a worker
  bool stopping_ = false;
  bool checkNow_ = false;  // checkSoon asked the keeper to check before its next tick
  std::map<std::string, std::shared_ptr<RunningJob>> runningFlags_;
  std::vector<std::thread> workers_;
  std::thread keeper_;
};

}  // namespace herald::jobs
