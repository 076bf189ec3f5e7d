#pragma once
// The one place job state changes: every change is a read-modify-write of the stored job
// (Store::updateJob, which assigns the next sequence inside the store's transaction),
// announced through the JobEvents port once it has committed. Several processes may
// share one store (its contract, storage/store.h, keeps their sequences unique and
// gap-free).
//
// Lanes. Store work runs on lanes: each lane is one Store (one database connection) and
// the executor that owns it, with its own group-commit batch. One lane (SQLite's
// default: it has one writer anyway) is the single storage executor; several (MariaDB's
// default is 4: `Storage:PoolSize`) let one node's round trips for different jobs overlap.
// Every write that concerns a job runs on the job's lane, chosen by its *video* id (the
// job's own id when it has no video), so:
//   - a job's changes run one after the other on one executor, and this node announces
//     them in sequence order;
//   - a video's pipeline job and its child jobs share a lane: the bookkeeping that moves
//     the video's stages and its pipeline job (VideoPipeline) never runs on two lanes of
//     this node at once, so neither their row locks (no deadlock between two lanes of one
//     node) nor their announcements (the pipeline job's updates in sequence order) cross.
// Reads that decide nothing may run on any lane (onStore without a lane). Claims run on
// any lane too: which job they take is known only once taken (see claimNextNow).
//
// Announcements never hurt a job: a failure to notify is logged and counted, and the
// stored state stands.
//
// Thread safety: public coroutines may be awaited from any executor; the work runs on a
// lane's executor. Members ending in Now run on a lane only (inside onStore*, which tells
// them which lane they are on).
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>
#include <mutex>
#include <unordered_map>

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
#include "jobs/queue_signal.h"
#include "jobs/job_limits.h"
#include "jobs/video_pipeline.h"
#include "model/job.h"
#include "model/video.h"
#include "storage/store.h"

namespace herald::jobs {

struct NewJob {
  std::string id;  // empty: a new UUID (createJob fills it in first to pick the job's lane)
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

// Refused: a limit (JobLimits) refused the change; ReportResult::refusal says which.
enum class ReportOutcome { Recorded, NotFound, AlreadyFinished, LeaseLost, Refused };

// A claim's lease: who holds it and for how long (0: no lease, the job is never taken
// over).
struct LeaseSpec {
  std::string owner;
  std::chrono::milliseconds length{0};
};

struct ReportResult {
  ReportOutcome outcome = ReportOutcome::Recorded;
  model::Job job;                     // state after the update (or current state when refused)
  std::optional<JobRefused> refusal;  // Refused only: the field, metrics reason, message
};

struct ServiceStats {
  std::atomic<std::uint64_t> updatesRecorded{0};
  std::atomic<std::uint64_t> notifyFailures{0};
};

// One lane: a store connection and the executor that owns it (see above).
struct StoreLane {
  storage::Store& store;
  boost::asio::any_io_executor executor;
};

class ProgressService {
 public:
  // `clock` stamps every change (created, started, updated, completed, retry due); tests
  // pass a manual one. One lane.
  ProgressService(storage::Store& store, boost::asio::any_io_executor storeExecutor,
                  JobEvents& events, const core::Clock& clock = core::systemClock());
  // Several lanes (at least one): several Store objects on one database.
  ProgressService(const std::vector<StoreLane>& lanes, JobEvents& events,
                  const core::Clock& clock = core::systemClock());

  // ---- lanes ----
  std::size_t laneCount() const { return lanes_.size(); }
  // The lane of a job's writes: its video's, else its own.
  std::size_t laneOf(const model::Job& job) const {
    return laneOfKey(job.videoId.empty() ? std::string_view(job.id) : job.videoId);
  }
  // The lane of a video (and of every job on it).
  std::size_t laneOfKey(std::string_view videoOrJobId) const {
    return lanes_.size() == 1 ? 0 : std::hash<std::string_view>{}(videoOrJobId) % lanes_.size();
  }
  // The lane of a job known by its id only (a REST report, cancel, retry): from what this
  // node remembers of the job's video, else read from the store once.
  boost::asio::awaitable<std::size_t> laneOfJobId(std::string jobId);
  // A lane for work that may run anywhere (reads, claims): each in turn.
  std::size_t anyLane() {
    return lanes_.size() == 1 ? 0
                              : nextLane_.fetch_add(1, std::memory_order_relaxed) % lanes_.size();
  }

  // Runs `f(store)` on lane `lane` and returns its result to the caller's executor.
  // Exceptions thrown by `f` are rethrown to the caller.
  template <class F>
  auto onStore(std::size_t lane, F f)
      -> boost::asio::awaitable<std::invoke_result_t<F, storage::Store&>> {
    using R = std::invoke_result_t<F, storage::Store&>;
    Lane& l = *lanes_[lane];
    return boost::asio::co_spawn(
        l.executor,
        [&l, f = std::move(f)]() mutable -> boost::asio::awaitable<R> {
          LaneScope scope(l);
          co_return f(l.store);
        },
        boost::asio::use_awaitable);
  }
  // A read that decides nothing: any lane.
  template <class F>
  auto onStore(F f) -> boost::asio::awaitable<std::invoke_result_t<F, storage::Store&>> {
    return onStore(anyLane(), std::move(f));
  }

  // Group commit. Runs `f(store)` on lane `lane` inside the lane's current batch (one is
  // opened if none is), then waits until that batch has committed: the caller may
  // acknowledge the write once this returns. Writes that arrive together share one
  // transaction, and their notifications go out after it commits, in order.
  template <class F>
  auto onStoreDurable(std::size_t lane, F f)
      -> boost::asio::awaitable<std::invoke_result_t<F, storage::Store&>> {
    using R = std::invoke_result_t<F, storage::Store&>;
    Lane& l = *lanes_[lane];
    return boost::asio::co_spawn(
        l.executor,
        [this, &l, f = std::move(f)]() mutable -> boost::asio::awaitable<R> {
          for (int attempt = 1;; ++attempt) {
            auto batch = joinBatch(l);
            std::optional<R> result;
            std::exception_ptr error;
            try {
              LaneScope scope(l);
              result.emplace(f(l.store));
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

  // Limits on metadata and stages; set before serving (not thread-safe against calls).
  void setLimits(const JobLimits& limits) { limits_ = limits; }
  const JobLimits& limits() const { return limits_; }

  // Throws JobRefused (nothing written) when a limit refuses the job.
  boost::asio::awaitable<model::Job> createJob(NewJob spec);
  boost::asio::awaitable<ReportResult> report(std::string jobId, ProgressReport report);
  // A video and its pipeline job, stored before the caller answers (a 202 is a promise
  // kept across crashes). Returns the pipeline job.
  boost::asio::awaitable<model::Job> ingestVideo(NewVideo spec);

  // Runs `f(store)` on lane `lane` and blocks until it is done. For worker threads only:
  // never call it from a lane's executor or an I/O thread.
  // `f` runs outside any batch (an open one is committed first): a worker acts on what
  // it wrote at once (runs the job it claimed, moves on after recording an outcome), so
  // the write must not be undone later with a batch that fails to commit (a deadlock
  // between two nodes' batches) — the claim of a job then running on two nodes.
  template <class F>
  auto onStoreSync(std::size_t lane, F f) -> std::invoke_result_t<F, storage::Store&> {
    using R = std::invoke_result_t<F, storage::Store&>;
    Lane& l = *lanes_[lane];
    std::packaged_task<R()> task([&] { return f(l.store); });
    auto result = task.get_future();
    boost::asio::post(l.executor, [this, &l, &task] {
      LaneScope scope(l);
      commitBatch(l);  // nothing when no batch is open
      task();
    });
    return result.get();
  }

  // A holder's own writes besides its reports (a transcript, the next stage's job, the
  // video's fields): runs `f(store)` on the job's lane in one transaction with a renewal
  // of `job`'s lease (job.leaseToken), so a holder whose lease was taken over writes
  // nothing: nullopt then (the caller stops). A job without a lease is not fenced. For
  // worker threads only, like onStoreSync. Changes `f` announces go out after the commit.
  template <class F>
  auto onStoreFenced(const model::Job& job, F f)
      -> std::optional<std::invoke_result_t<F, storage::Store&>> {
    using R = std::invoke_result_t<F, storage::Store&>;
    return onStoreSync(laneOf(job), [&](storage::Store&) -> std::optional<R> {
      Lane& l = lane();
      if (job.leaseToken.empty()) return f(l.store);
      for (int attempt = 1;; ++attempt) {
        auto batch = std::make_shared<Batch>(l.executor);
        l.store.beginBatch();
        l.batch = batch;
        std::optional<R> result;
        try {
          // The renewal locks the job's row (SQLite: the write lock) until the commit: a
          // takeover waits for it, and sees a live lease then.
          if (l.store.renewLease(job.id, job.leaseToken, nowMillis() + job.leaseMillis)) {
            result.emplace(f(l.store));
          }
        } catch (...) {
          abandonBatch(l);
          throw;
        }
        if (!result) {
          abandonBatch(l);
          return std::nullopt;
        }
        commitBatch(l);
        if (batch->conflict && attempt < kConflictAttempts) continue;
        if (batch->failed) throw storage::StoreError("commit failed: " + batch->error);
        return result;
      }
    });
  }

  // Calls `f(store)` directly on the lane this code already runs on (before the lanes'
  // executors run, at start-up: the first lane).
  template <class F>
  auto onStoreInline(F f) -> std::invoke_result_t<F, storage::Store&> {
    if (current_ != nullptr) return f(current_->store);
    LaneScope scope(*lanes_.front());
    return f(lanes_.front()->store);
  }

  // ---- lane-only operations (the engine and processors call these through onStore* on
  // the job's lane) ----
  // Throws JobRefused (nothing written) when a limit refuses the job.
  model::Job createJobNow(NewJob spec);
  ReportResult reportNow(const std::string& jobId, const ProgressReport& report);
  // Takes the next runnable job of `filter`'s queue atomically (on any lane: the video
  // bookkeeping of the claimed job then runs on that lane, serialised with the job's
  // other changes by the store's row locks, not by the lane): Running, attempt counted
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
  // Start-up recovery reads the Running jobs in pages of this many.
  static constexpr int kRecoveryPage = 500;
  // The videos' pipeline bookkeeping (stages, summaries, the pipeline job).
  VideoPipeline& videos() { return videos_; }
  std::int64_t nowMillis() const { return clock_.systemNowMillis(); }
  const core::Clock& clock() const { return clock_; }

  // Signalled once a job this node queued (created, re-queued, given back, recovered) has
  // committed: wakes the claim long polls (POST /jobs/claim).
  QueueSignal& queued() { return queued_; }

  const ServiceStats& stats() const { return stats_; }
  // Failed announcements: the service's own (a video summary) and the port's.
  std::uint64_t notifyFailures() const { return stats_.notifyFailures.load() + events_.failures(); }
  // The first lane's executor (with one lane, the storage executor).
  boost::asio::any_io_executor storeExecutor() const { return lanes_.front()->executor; }

 private:
  struct Batch {
    explicit Batch(const boost::asio::any_io_executor& ex)
        : done(ex, std::chrono::steady_clock::time_point::max()) {}
    boost::asio::steady_timer done;  // cancelled when the batch has committed (or failed)
    bool failed = false;
    bool conflict = false;  // failed with storage::StoreConflict: safe to run again
    std::string error;
  };
  struct Lane {
    Lane(storage::Store& s, boost::asio::any_io_executor ex) : store(s), executor(std::move(ex)) {}
    storage::Store& store;
    boost::asio::any_io_executor executor;
    // The lane's executor only: the open batch, and announcements held until it commits.
    std::shared_ptr<Batch> batch;
    std::vector<Delivery> deferred;
  };
  // Marks the lane the calling thread works on for the *Now members (a lane's work runs
  // synchronously on one thread between two suspension points, so a thread-local says
  // which lane it is).
  struct LaneScope {
    explicit LaneScope(Lane& lane) : previous(current_) { current_ = &lane; }
    ~LaneScope() { current_ = previous; }
    LaneScope(const LaneScope&) = delete;
    LaneScope& operator=(const LaneScope&) = delete;
    Lane* previous;
  };
  static inline thread_local Lane* current_ = nullptr;
  Lane& lane() { return *current_; }
  storage::Store& store() { return current_->store; }

  // How often onStoreDurable runs a call whose batch was undone by a deadlock.
  static constexpr int kConflictAttempts = 5;
  std::shared_ptr<Batch> joinBatch(Lane& lane);
  void commitBatch(Lane& lane);
  // Rolls the lane's open batch back; its announcements are dropped.
  void abandonBatch(Lane& lane);
  // Remembers a job's video (its lane) for laneOfJobId; several lanes only.
  void rememberLane(const model::Job& job);

  friend class VideoPipeline;

  // Which stored jobs a change applies to: open ones (reports, retries later) or ended
  // ones that can run again (Failed, Cancelled).
  enum class Accepts { Open, Ended };
  // A change decided from the stored job: NotFound, AlreadyFinished (the job is not one
  // `accepts` takes) or Recorded.
  // `fence`: the token the stored job must hold (nullptr: not fenced); LeaseLost if not.
  // `mutate` returns false to refuse the change (Refused; it says why in `refusal`).
  // `reporter`: a worker that must have created (runner) or hold (lease owner) the job;
  // NotFound if not (nullptr: anyone).
  ReportResult change(const std::string& jobId, Accepts accepts,
                      const std::function<bool(model::Job&)>& mutate,
                      const std::string* fence = nullptr,
                      std::optional<JobRefused>* refusal = nullptr,
                      const std::string* reporter = nullptr);
  // recoverInterruptedNow's work on one page; returns how many of its jobs stay Running.
  std::size_t recoverPage(const std::vector<model::Job>& page,
                          const std::function<bool(const model::Job&)>& keepRunning,
                          const std::function<bool(const model::Job&)>& heldElsewhere,
                          std::vector<std::string>& requeued);
  // A refusal when `metadata` is over Jobs:MaxMetadataBytes; `when` completes the message.
  std::optional<JobRefused> checkMetadata(const boost::json::object& metadata,
                                          std::string_view when) const;
  // Announces a written change (held until its batch commits) and, with `moveVideo`,
  // moves the stage of the job's video.
  void recorded(const storage::JobChange& change, model::JobStatus previous, bool moveVideo = true);
  // Held until the lane's open batch commits, then run; run at once without a batch.
  void announce(Delivery delivery);
  // `job` is runnable now: signals queued() once its write has committed.
  void queuedNow(const model::Job& job);
  // The job left the queue (claimed, or an external worker's first report).
  static void observeQueueWait(const model::Job& job, std::int64_t queuedSince);

  std::vector<std::unique_ptr<Lane>> lanes_;
  std::atomic<std::size_t> nextLane_{0};
  JobEvents& events_;
  const core::Clock& clock_;
  ServiceStats stats_;
  QueueSignal queued_;
  JobLimits limits_;
  VideoPipeline videos_{*this};
  // Several lanes: job id -> video id ("" for none) of the jobs this node has seen, so a
  // request naming a job finds its lane without a read. Bounded: cleared when full.
  std::mutex lanesMutex_;
  std::unordered_map<std::string, std::string> videoOfJob_;
};

}  // namespace herald::jobs
