#pragma once
// The one place job state changes: every change is a read-modify-write of the stored job
// (Store::updateJob, which assigns the next sequence inside the store's transaction),
// announced through the JobEvents port once it has committed. Store work runs on the
// single storage executor of this process, which also orders this node's announcements
// of one job by sequence; several processes may share one store (its contract,
// storage/store.h, keeps their sequences unique and gap-free).
//
// Announcements never hurt a job: a failure to notify is logged and counted, and the
// stored state stands.
//
// Thread safety: public coroutines may be awaited from any executor; the work runs on
// the storage executor. Members ending in Now run on the storage executor only.
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/object.hpp>

#include "core/clock.h"
#include "jobs/job_events.h"
#include "jobs/video_pipeline.h"
#include "model/job.h"
#include "model/video.h"
#include "storage/store.h"

namespace herald::jobs {

struct NewJob {
  std::string jobType;
  std::string videoId;
  std::string userId;
  boost::json::object metadata;
  int priority = 0;
  int maxAttempts = 3;
  std::string runner;  // model::kRunnerHerald for the built-in pipeline
};

struct ProgressReport {
  std::optional<double> progress;
  std::optional<std::string> currentStage;
  std::optional<std::string> statusMessage;
  std::optional<model::JobStatus> status;
  std::optional<std::string> errorMessage;
  std::optional<boost::json::object> metadata;  // merged into the job's metadata
  // Fencing: a fenced report (a worker's, REST or in-process) is recorded only if
  // `leaseToken` is the job's stored token (no token for a job without a lease), so a
  // holder whose lease was taken over writes nothing; it renews the lease. Unfenced
  // reports (cancel, the pipeline's own bookkeeping) are an authority above the lease.
  bool fenced = false;
  std::string leaseToken;
  // Non-empty (an authenticated worker's auth::Principal::actorId): recorded only on a
  // job this worker created (its runner) or holds the lease of; any other job answers
  // NotFound, as if it did not exist.
  std::string reporter;
};

enum class ReportOutcome { Recorded, NotFound, AlreadyFinished, LeaseLost };

// A claim's lease: who holds it and for how long (0: no lease, the job is never taken
// over).
struct LeaseSpec {
  std::string owner;
  std::chrono::milliseconds length{0};
};

struct ReportResult {
  ReportOutcome outcome = ReportOutcome::Recorded;
  model::Job job;  // state after the update (or current state when refused)
};

struct ServiceStats {
  std::atomic<std::uint64_t> updatesRecorded{0};
  std::atomic<std::uint64_t> notifyFailures{0};
};

class ProgressService {
 public:
  // `clock` stamps every change (created, started, updated, completed, retry due); tests
  // pass a manual one.
  ProgressService(storage::Store& store, boost::asio::any_io_executor storeExecutor,
                  JobEvents& events, const core::Clock& clock = core::systemClock());

  // Runs `f(store)` on the storage executor and returns its result to the caller's
  // executor. Exceptions thrown by `f` are rethrown to the caller.
  template <class F>
  auto onStore(F f) -> boost::asio::awaitable<std::invoke_result_t<F, storage::Store&>> {
    using R = std::invoke_result_t<F, storage::Store&>;
    return boost::asio::co_spawn(
        storeExecutor_,
        [this, f = std::move(f)]() mutable -> boost::asio::awaitable<R> { co_return f(store_); },
        boost::asio::use_awaitable);
  }

  // Group commit. Runs `f(store)` on the storage executor inside the current batch (one
  // is opened if none is), then waits until that batch has committed: the caller may
  // acknowledge the write once this returns. Writes that arrive together share one
  // transaction, and their notifications go out after it commits, in order.
  template <class F>
  auto onStoreDurable(F f) -> boost::asio::awaitable<std::invoke_result_t<F, storage::Store&>> {
    using R = std::invoke_result_t<F, storage::Store&>;
    return boost::asio::co_spawn(
        storeExecutor_,
        [this, f = std::move(f)]() mutable -> boost::asio::awaitable<R> {
          for (int attempt = 1;; ++attempt) {
            auto batch = joinBatch();
            std::optional<R> result;
            std::exception_ptr error;
            try {
              result.emplace(f(store_));
            } catch (...) {
              error = std::current_exception();
            }
            co_await batch->done.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            // The database undid the batch to break a deadlock with another node's batch
            // (MariaDB): nothing of it was written, so the work runs again, in a new batch.
            if (batch->conflict && attempt < kConflictAttempts) continue;
            if (batch->failed) throw storage::StoreError("commit failed: " + batch->error);
            if (error) std::rethrow_exception(error);
            co_return std::move(*result);
          }
        },
        boost::asio::use_awaitable);
  }

  boost::asio::awaitable<model::Job> createJob(NewJob spec);
  boost::asio::awaitable<ReportResult> report(std::string jobId, ProgressReport report);
  // A video and its pipeline job, stored before the caller answers (a 202 is a promise
  // kept across crashes). Returns the pipeline job.
  boost::asio::awaitable<model::Job> ingestVideo(NewVideo spec);

  // Runs `f(store)` on the storage executor and blocks until it is done. For worker
  // threads only: never call it from the storage executor or an I/O thread.
  // `f` runs outside any batch (an open one is committed first): a worker acts on what
  // it wrote at once (runs the job it claimed, moves on after recording an outcome), so
  // the write must not be undone later with a batch that fails to commit (a deadlock
  // between two nodes' batches) — the claim of a job then running on two nodes.
  template <class F>
  auto onStoreSync(F f) -> std::invoke_result_t<F, storage::Store&> {
    using R = std::invoke_result_t<F, storage::Store&>;
    std::packaged_task<R()> task([&] { return f(store_); });
    auto result = task.get_future();
    boost::asio::post(storeExecutor_, [this, &task] {
      commitBatch();  // nothing when no batch is open
      task();
    });
    return result.get();
  }

  // Calls `f(store)` directly: for code already on the storage executor.
  template <class F>
  auto onStoreInline(F f) -> std::invoke_result_t<F, storage::Store&> {
    return f(store_);
  }

  // ---- storage-executor-only operations (the engine and processors call these
  // through onStore / onStoreSync) ----
  model::Job createJobNow(NewJob spec);
  ReportResult reportNow(const std::string& jobId, const ProgressReport& report);
  // Takes the next runnable job of `filter`'s queue atomically: Running, attempt counted
  // (so a job that keeps crashing the process runs out of attempts instead of looping).
  // With a lease, the job carries `lease`'s owner, a new token and an expiry; a Running
  // job whose lease expired is taken over the same way (a new attempt, or Failed when it
  // has used them all).
  std::optional<model::Job> claimNextNow(const storage::ClaimFilter& filter = {},
                                         const LeaseSpec& lease = {});
  // A transient failure: back to Pending until `delay` has passed. Fenced by
  // `leaseToken` (empty: the job has no lease).
  ReportResult retryLaterNow(const std::string& jobId, const std::string& error,
                             std::chrono::milliseconds delay, const std::string& leaseToken = {});
  // A node stopping gives a job back: Pending at once, its interrupted attempt not
  // counted. Fenced by the token.
  ReportResult giveBackNow(const std::string& jobId, const std::string& leaseToken,
                           const std::string& why);
  // Failed/Cancelled -> Pending with fresh attempts (POST /jobs/{id}/retry).
  ReportResult requeueNow(const std::string& jobId);
  // Start-up: jobs left Running by a crash go back to Pending, or fail when they have
  // used all their attempts. `keepRunning` says which may stay (a pipeline job that only
  // waits for its children). A job whose lease is live is left alone (its holder runs it;
  // if it died, the expiry hands the job over) unless `ownerGone(owner)` says the holder
  // is this node or known dead; jobs with an expired lease or none are recovered.
  // Returns the ids re-queued.
  std::vector<std::string> recoverInterruptedNow(
      const std::function<bool(const model::Job&)>& keepRunning,
      const std::function<bool(const std::string&)>& ownerGone = {});
  // The videos' pipeline bookkeeping (stages, summaries, the pipeline job).
  VideoPipeline& videos() { return videos_; }
  std::int64_t nowMillis() const { return clock_.systemNowMillis(); }
  const core::Clock& clock() const { return clock_; }

  const ServiceStats& stats() const { return stats_; }
  // Failed announcements: the service's own (a video summary) and the port's.
  std::uint64_t notifyFailures() const { return stats_.notifyFailures.load() + events_.failures(); }
  boost::asio::any_io_executor storeExecutor() const { return storeExecutor_; }

 private:
  struct Batch {
    explicit Batch(const boost::asio::any_io_executor& ex)
        : done(ex, std::chrono::steady_clock::time_point::max()) {}
    boost::asio::steady_timer done;  // cancelled when the batch has committed (or failed)
    bool failed = false;
    bool conflict = false;  // failed with storage::StoreConflict: safe to run again
    std::string error;
  };
  // How often onStoreDurable runs a call whose batch was undone by a deadlock.
  static constexpr int kConflictAttempts = 5;
  std::shared_ptr<Batch> joinBatch();
  void commitBatch();

  friend class VideoPipeline;

  // Which stored jobs a change applies to: open ones (reports, retries later) or ended
  // ones that can run again (Failed, Cancelled).
  enum class Accepts { Open, Ended };
  // A change decided from the stored job: NotFound, AlreadyFinished (the job is not one
  // `accepts` takes) or Recorded.
  // `fence`: the token the stored job must hold (nullptr: not fenced); LeaseLost if not.
  // `reporter`: a worker that must have created (runner) or hold (lease owner) the job;
  // NotFound if not (nullptr: anyone).
  ReportResult change(const std::string& jobId, Accepts accepts,
                      const std::function<void(model::Job&)>& mutate,
                      const std::string* fence = nullptr, const std::string* reporter = nullptr);
  // Announces a written change (held until its batch commits) and, with `moveVideo`,
  // moves the stage of the job's video.
  void recorded(const storage::JobChange& change, model::JobStatus previous, bool moveVideo = true);
  // Held until the open batch commits, then run; run at once without a batch.
  void announce(Delivery delivery);
  // The job left the queue (claimed, or an external worker's first report).
  static void observeQueueWait(const model::Job& job, std::int64_t queuedSince);

  storage::Store& store_;
  boost::asio::any_io_executor storeExecutor_;
  JobEvents& events_;
  const core::Clock& clock_;
  ServiceStats stats_;
  VideoPipeline videos_{*this};
  // Storage executor only: the open batch, and announcements held until it commits.
  std::shared_ptr<Batch> batch_;
  std::vector<Delivery> deferred_;
};

}  // namespace herald::jobs
