#pragma once
// What the job engine runs: one Processor per job type. A processor does blocking work
// on a worker thread and reports through its ProgressReporter; it ends by returning,
// or by throwing one of the errors below.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "jobs/progress_reporter.h"
#include "model/job.h"

namespace herald::jobs {

class ProgressService;

// Retrying cannot help (bad input, corrupt media): the job fails at once.
class PermanentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Might work later (network, a busy service): retried with backoff while attempts last.
class TransientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The attempt's lease was taken over (it stalled past the expiry, or the job was
// cancelled elsewhere): another attempt owns the job; stop and write nothing more.
class LeaseLost : public std::runtime_error {
 public:
  LeaseLost() : std::runtime_error("the job's lease was lost (taken over or cancelled)") {}
};

// The process or the system ran short of file descriptors, processes or memory (EMFILE,
// ENFILE, EAGAIN, ENOMEM) while a job ran: nothing is wrong with the job, so it is retried
// like any transient failure instead of failing for good.
class ResourceShortage : public TransientError {
 public:
  using TransientError::TransientError;
};

// Whether an errno value is such a shortage.
bool isResourceShortage(int err);

enum class Outcome {
  Completed,  // the engine records Completed
  Waiting,    // stays Running; other jobs finish it (the pipeline job waits for children)
};

struct JobContext {
  const model::Job& job;
  ProgressReporter& progress;
  const std::atomic<bool>& cancel;  // set on cancel or shutdown: stop promptly
  ProgressService& service;
};

class Processor {
 public:
  virtual ~Processor() = default;
  virtual Outcome run(JobContext& context) = 0;
};

using ProcessorPtr = std::shared_ptr<Processor>;

}  // namespace herald::jobs
