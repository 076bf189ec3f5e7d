// The progress service and the video pipeline's bookkeeping without sockets or sleeps: a
// manual clock stamps every change, a recording port shows what is announced and when.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <thread>

#include "jobs/progress_service.h"
#include "storage/sqlite/sqlite_store.h"
#include "support/manual_clock.h"

using namespace herald;
using namespace std::chrono_literals;
using model::JobStatus;

namespace {

struct Announced {
  std::string jobId;
  std::int64_t sequence;
  JobStatus status;
  bool statusChanged;
};

// Records announcements as they are delivered (not when they are prepared).
class RecordingEvents final : public jobs::JobEvents {
 public:
  jobs::Delivery jobChanged(const model::Job& job, const model::ProgressEntry& entry,
                            bool statusChanged) override {
    Announced a{job.id, entry.sequence, job.status, statusChanged};
    return [this, a] { jobs.push_back(a); };
  }
  jobs::Delivery videoChanged(const model::Video& video,
                              jobs::VideoTransition transition) override {
    auto status = video.processingStatus;
    return [this, status, transition] {
      videos.push_back(status);
      if (transition != jobs::VideoTransition::None) transitions.push_back(transition);
    };
  }
  std::vector<Announced> jobs;
  std::vector<model::ProcessingStatus> videos;
  std::vector<jobs::VideoTransition> transitions;
};

class ProgressServiceTest : public ::testing::Test {
 protected:
  template <class F>
  auto now(F f) {
    return service.onStoreInline([&](storage::Store&) { return f(); });
  }
  model::Job create(std::string type = "Transcription", std::string videoId = "") {
    jobs::NewJob spec;
    spec.jobType = std::move(type);
    spec.videoId = std::move(videoId);
    spec.userId = "alice";
    spec.runner = std::string(model::kRunnerHerald);
    return now([&] { return service.createJobNow(spec); });
  }
  jobs::ReportResult report(const std::string& id, double progress,
                            std::optional<JobStatus> status = std::nullopt,
                            std::optional<std::string> stage = std::nullopt) {
    jobs::ProgressReport r;
    r.progress = progress;
    r.status = status;
    r.currentStage = std::move(stage);
    return now([&] { return service.reportNow(id, r); });
  }

  test::ManualClock clock;
  boost::asio::io_context storeIo;
  storage::SqliteStore store{":memory:"};
  RecordingEvents events;
  jobs::ProgressService service{store, storeIo.get_executor(), events, clock};
};

TEST_F(ProgressServiceTest, EveryChangeIsStampedByTheClockAndAnnouncedInSequence) {
  const auto t0 = clock.systemNowMillis();
  auto job = create();
  EXPECT_EQ(job.createdAt, t0);
  clock.advance(5s);
  auto running = report(job.id, 40).job;
  EXPECT_EQ(running.status, JobStatus::Running);
  EXPECT_EQ(running.startedAt, t0 + 5000);
  EXPECT_EQ(running.updatedAt, t0 + 5000);
  clock.advance(2s);
  auto done = report(job.id, 100, JobStatus::Completed).job;
  EXPECT_EQ(done.completedAt, t0 + 7000);
  EXPECT_EQ(done.startedAt, t0 + 5000);
  // A report to an ended job changes nothing and announces nothing.
  EXPECT_EQ(report(job.id, 10).outcome, jobs::ReportOutcome::AlreadyFinished);
  ASSERT_EQ(events.jobs.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(events.jobs[i].sequence, std::int64_t(i) + 1);
  EXPECT_FALSE(events.jobs[0].statusChanged);
  EXPECT_TRUE(events.jobs[1].statusChanged);
  EXPECT_TRUE(events.jobs[2].statusChanged);
  EXPECT_EQ(events.jobs[2].status, JobStatus::Completed);
}

// A worker's store call (onStoreSync) queued while a batch of durable calls is open runs
// after that batch has committed, never inside it: a batch undone later (two nodes'
// batches deadlocking) would otherwise undo the worker's claim of a job it already runs.
TEST_F(ProgressServiceTest, AWorkersStoreCallNeverRunsInsideAnOpenBatch) {
  auto job = create();
  ASSERT_EQ(events.jobs.size(), 1u);
  jobs::ProgressReport r;
  r.progress = 10;
  bool durableDone = false;
  boost::asio::co_spawn(
      storeIo,
      [&]() -> boost::asio::awaitable<void> {
        co_await service.report(job.id, r);
        durableDone = true;
      },
      boost::asio::detached);
  storeIo.run_one();  // the caller's coroutine: queues the durable call itself
  // The worker's call is queued behind the durable call, which opens a batch when it runs
  // and queues the batch's commit behind everything already there.
  std::size_t deliveredBeforeWorker = 0;
  std::thread worker([&] {
    service.onStoreSync(0, [&](storage::Store&) {
      deliveredBeforeWorker = events.jobs.size();
      return 0;
    });
  });
  std::this_thread::sleep_for(200ms);  // the worker has queued its call
  storeIo.run();
  worker.join();
  EXPECT_TRUE(durableDone);
  EXPECT_EQ(deliveredBeforeWorker, 2u) << "the open batch was committed (and announced) first";
  EXPECT_EQ(events.jobs.size(), 2u);
}

TEST_F(ProgressServiceTest, ARetryWaitsForItsTimeOnTheClock) {
  auto job = create();
  auto claimed = now([&] { return service.claimNextNow(); });
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->attempts, 1);
  EXPECT_EQ(claimed->status, JobStatus::Running);
  now([&] { return service.retryLaterNow(job.id, "busy", 2000ms); });
  EXPECT_FALSE(now([&] { return service.claimNextNow(); }));
  clock.advance(1999ms);
  EXPECT_FALSE(now([&] { return service.claimNextNow(); }));
  clock.advance(1ms);
  auto again = now([&] { return service.claimNextNow(); });
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_EQ(again->id, job.id);
}

TEST_F(ProgressServiceTest, AChildJobMovesItsVideoStageAndThePipelineJobFollows) {
  jobs::NewVideo spec;
  spec.url = "file:///tmp/v.mp4";
  spec.userId = "alice";
  spec.transcribe = true;
  spec.embed = false;
  auto pipelineJob = now([&] { return service.videos().createNow(spec); });
  auto videoId = pipelineJob.videoId;
  auto video = store.getVideo(videoId);
  ASSERT_TRUE(video);
  ASSERT_EQ(video->stages.size(), 2u);  // Ingestion, Transcription
  EXPECT_EQ(video->transcriptionStatus, model::TranscriptionStatus::Pending);

  ASSERT_TRUE(now([&] { return service.claimNextNow(); }));  // the pipeline job runs
  now([&] {
    service.videos().updateIngestionNow(videoId, model::StageStatus::Completed, 100, "done");
    return 0;
  });
  auto transcription = create("Transcription", videoId);
  report(transcription.id, 50, std::nullopt, "Transcribing audio");
  video = store.getVideo(videoId);
  EXPECT_EQ(video->processingStatus, model::ProcessingStatus::Processing);
  EXPECT_EQ(video->transcriptionStatus, model::TranscriptionStatus::InProgress);
  EXPECT_EQ(video->overallProgress, 75);  // (100 + 50) / 2
  auto pipeline = store.getJob(pipelineJob.id);
  EXPECT_EQ(pipeline->progress, 75);
  EXPECT_EQ(pipeline->statusMessage, "Transcription: Transcribing audio");

  jobs::ProgressReport failed;
  failed.status = JobStatus::Failed;
  failed.errorMessage = "no speech";
  now([&] { return service.reportNow(transcription.id, failed); });
  video = store.getVideo(videoId);
  EXPECT_EQ(video->processingStatus, model::ProcessingStatus::Failed);
  EXPECT_EQ(video->transcriptionStatus, model::TranscriptionStatus::Failed);
  pipeline = store.getJob(pipelineJob.id);
  EXPECT_EQ(pipeline->status, JobStatus::Failed);
  EXPECT_EQ(pipeline->errorMessage, "Transcription failed: no speech");
  EXPECT_EQ(events.transitions,
            (std::vector<jobs::VideoTransition>{jobs::VideoTransition::Failed}));
}

// The pipeline job follows its video also behind more jobs on the video than one page of
// the store's list holds (1,000), all newer than it and created in one millisecond.
TEST_F(ProgressServiceTest, ThePipelineJobFollowsItsVideoBehindAThousandNewerJobs) {
  jobs::NewVideo spec;
  spec.url = "file:///tmp/v.mp4";
  spec.userId = "alice";
  spec.embed = false;
  auto pipelineJob = now([&] { return service.videos().createNow(spec); });
  const auto videoId = pipelineJob.videoId;
  ASSERT_TRUE(now([&] { return service.claimNextNow(); }));  // the pipeline job runs
  clock.advance(1s);
  std::vector<model::Job> transcriptions;
  for (int i = 0; i < 1100; ++i) {
    jobs::NewJob job;
    job.jobType = "Transcription";
    job.videoId = videoId;  // an external worker's (no runner)
    transcriptions.push_back(now([&] { return service.createJobNow(job); }));
  }
  now([&] {
    service.videos().updateIngestionNow(videoId, model::StageStatus::Completed, 100, "done");
    return 0;
  });
  report(transcriptions.front().id, 50, std::nullopt, "Transcribing audio");
  EXPECT_EQ(store.getVideo(videoId)->overallProgress, 75);  // (100 + 50) / 2
  auto pipeline = store.getJob(pipelineJob.id);
  EXPECT_EQ(pipeline->progress, 75);
  EXPECT_EQ(pipeline->statusMessage, "Transcription: Transcribing audio");
}

}  // namespace

// Leases: a claim leases the job; fenced reports need its token and renew it; an expired
// lease is taken over (a new attempt, a new token) and the old holder is refused.
TEST_F(ProgressServiceTest, AnExpiredLeaseIsTakenOverAndTheOldHolderIsFenced) {
  auto job = create();
  const jobs::LeaseSpec a{"node-a", 30s};
  auto claimed = now([&] { return service.claimNextNow({}, a); });
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->leaseOwner, "node-a");
  EXPECT_EQ(claimed->leaseToken.size(), 32u);
  EXPECT_EQ(claimed->leaseExpiresAt, clock.systemNowMillis() + 30000);
  const auto tokenA = claimed->leaseToken;

  auto fenced = [&](const std::string& token, double progress) {
    jobs::ProgressReport r;
    r.progress = progress;
    r.fenced = true;
    r.leaseToken = token;
    return now([&] { return service.reportNow(job.id, r); });
  };
  // Without the token, or with another: refused, nothing written or announced.
  const auto announced = events.jobs.size();
  EXPECT_EQ(fenced("", 10).outcome, jobs::ReportOutcome::LeaseLost);
  EXPECT_EQ(fenced("0123", 10).outcome, jobs::ReportOutcome::LeaseLost);
  EXPECT_EQ(events.jobs.size(), announced);
  // With it: recorded, and the lease renewed from now.
  clock.advance(20s);
  auto renewed = fenced(tokenA, 20);
  ASSERT_EQ(renewed.outcome, jobs::ReportOutcome::Recorded);
  EXPECT_EQ(renewed.job.leaseExpiresAt, clock.systemNowMillis() + 30000);
  // Not expired yet: nobody else gets it.
  clock.advance(29s);
  EXPECT_FALSE(now([&] { return service.claimNextNow({}, {"node-b", 30s}); }));
  // Expired: node B takes it over, attempt 2, a new token.
  clock.advance(1s);
  auto taken = now([&] { return service.claimNextNow({}, {"node-b", 30s}); });
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->id, job.id);
  EXPECT_EQ(taken->attempts, 2);
  EXPECT_EQ(taken->leaseOwner, "node-b");
  EXPECT_NE(taken->leaseToken, tokenA);
  EXPECT_NE(taken->statusMessage.find("node-a"), std::string::npos);
  // A's late report: refused; B's goes through, and progress is B's.
  const auto before = events.jobs.size();
  auto late = fenced(tokenA, 90);
  EXPECT_EQ(late.outcome, jobs::ReportOutcome::LeaseLost);
  EXPECT_EQ(late.job.progress, taken->progress);
  EXPECT_EQ(events.jobs.size(), before);
  EXPECT_EQ(fenced(taken->leaseToken, 5).outcome, jobs::ReportOutcome::Recorded);
  // The end clears the lease; an unfenced cancel would too.
  jobs::ProgressReport done;
  done.status = JobStatus::Completed;
  done.fenced = true;
  done.leaseToken = taken->leaseToken;
  auto completed = now([&] { return service.reportNow(job.id, done); });
  ASSERT_EQ(completed.outcome, jobs::ReportOutcome::Recorded);
  EXPECT_TRUE(completed.job.leaseToken.empty());
  EXPECT_EQ(completed.job.leaseExpiresAt, 0);
}

// A holder's own writes (the transcript, the next stage's job) are fenced like its
// reports: once another node took the job over, a late holder writes nothing at all —
// neither the transcript nor a second Embedding job — and announces nothing.
TEST_F(ProgressServiceTest, AHoldersOtherWritesAreFencedByItsLeaseToo) {
  now([&] {
    model::Video video;  // a pipeline with a stage after Transcription
    video.id = "video-1";
    for (auto name : {model::kTranscriptionStage, model::kEmbeddingStage}) {
      model::VideoStage stage;
      stage.name = std::string(name);
      video.stages.push_back(stage);
    }
    store.saveVideo(video);
    return 0;
  });
  auto job = create("Transcription", "video-1");
  auto a = now([&] { return service.claimNextNow({}, {"node-a", 30s}); });
  ASSERT_TRUE(a);
  auto guard = boost::asio::make_work_guard(storeIo);
  std::thread lane([&] { storeIo.run(); });
  auto write = [&](const model::Job& holder, const std::string& text) {
    return service.onStoreFenced(holder, [&](storage::Store& s) {
      s.saveTranscript(holder.videoId, {{0, 1, text}});
      return service.videos().queueStageJobNow(holder, model::kEmbeddingGeneration, {}, 3);
    });
  };
  auto embeddingJobs = [&] {
    storage::JobFilter f;
    f.jobType = std::string(model::kEmbeddingGeneration);
    return service.onStoreSync(0, [&](storage::Store& s) { return s.listJobs(f).size(); });
  };
  auto transcript = [&] {
    return service.onStoreSync(0, [&](storage::Store& s) { return s.transcript("video-1"); });
  };

  // A holds the lease: written, the lease renewed from now.
  clock.advance(10s);
  ASSERT_EQ(write(*a, "by a"), std::optional<bool>(true));
  EXPECT_EQ(transcript().at(0).text, "by a");
  EXPECT_EQ(embeddingJobs(), 1u);
  auto stored = service.onStoreSync(0, [&](storage::Store& s) { return s.getJob(job.id); });
  EXPECT_EQ(stored->leaseExpiresAt, clock.systemNowMillis() + 30000);

  // A stalls past its lease; B takes the job over.
  clock.advance(31s);
  auto b = service.onStoreSync(0, [&](storage::Store&) {
    return service.claimNextNow({}, {"node-b", 30s});
  });
  ASSERT_TRUE(b);
  ASSERT_EQ(b->id, job.id);
  const auto announced = events.jobs.size();
  EXPECT_EQ(write(*a, "zombie"), std::nullopt) << "a late holder's writes are refused";
  EXPECT_EQ(transcript().at(0).text, "by a");
  EXPECT_EQ(embeddingJobs(), 1u);
  EXPECT_EQ(events.jobs.size(), announced);
  // B holds it now.
  EXPECT_TRUE(write(*b, "by b").has_value());
  EXPECT_EQ(transcript().at(0).text, "by b");
  guard.reset();
  lane.join();
}

TEST_F(ProgressServiceTest, ATakeoverWithNoAttemptsLeftFailsTheJob) {
  auto job = create();
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto claimed = now([&] { return service.claimNextNow({}, {"node", 10s}); });
    ASSERT_TRUE(claimed) << attempt;
    EXPECT_EQ(claimed->attempts, attempt);
    clock.advance(11s);
  }
  EXPECT_FALSE(now([&] { return service.claimNextNow({}, {"node", 10s}); }));
  auto stored = store.getJob(job.id);
  EXPECT_EQ(stored->status, JobStatus::Failed);
  EXPECT_NE(stored->errorMessage->find("expired"), std::string::npos);
}

TEST_F(ProgressServiceTest, GivingBackRequeuesAtOnceWithoutCountingTheAttempt) {
  auto job = create();
  auto claimed = now([&] { return service.claimNextNow({}, {"node-a", 30s}); });
  ASSERT_TRUE(claimed);
  EXPECT_EQ(now([&] { return service.giveBackNow(job.id, "stale", "stopping"); }).outcome,
            jobs::ReportOutcome::LeaseLost);
  auto back =
      now([&] { return service.giveBackNow(job.id, claimed->leaseToken, "node-a stopped"); });
  ASSERT_EQ(back.outcome, jobs::ReportOutcome::Recorded);
  EXPECT_EQ(back.job.status, JobStatus::Pending);
  EXPECT_EQ(back.job.attempts, 0);
  EXPECT_TRUE(back.job.leaseToken.empty());
  auto again = now([&] { return service.claimNextNow({}, {"node-b", 30s}); });
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 1);
}

TEST_F(ProgressServiceTest, RecoveryAtStartLeavesOtherNodesLiveLeasesAlone) {
  auto mine = create();
  auto theirs = create();
  auto expired = create();
  now([&] { return service.claimNextNow({}, {"node-old", 5s}); });
  now([&] { return service.claimNextNow({}, {"node-b", 60s}); });
  now([&] { return service.claimNextNow({}, {"node-c", 5s}); });
  clock.advance(6s);
  auto requeued = now([&] {
    return service.recoverInterruptedNow(
        [](const model::Job&) { return false; },
        [](const std::string& owner) { return owner == "node-old"; });
  });
  std::sort(requeued.begin(), requeued.end());
  std::vector<std::string> expected{mine.id, expired.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(requeued, expected);
  EXPECT_EQ(store.getJob(theirs.id)->status, JobStatus::Running);
  EXPECT_EQ(store.getJob(theirs.id)->leaseOwner, "node-b");
}

TEST_F(ProgressServiceTest, RecoveryAtStartFindsInterruptedJobsBehindManyNewerRunningOnes) {
  // The attack run's case: an interrupted pipeline job, then more newer Running jobs of
  // external workers than one page of the Running list holds.
  auto interrupted = create();
  ASSERT_TRUE(now([&] { return service.claimNextNow(); }));
  clock.advance(1s);
  constexpr int kExternal = jobs::ProgressService::kRecoveryPage * 2 + 10;
  for (int i = 0; i < kExternal; ++i) {
    jobs::NewJob spec;
    spec.jobType = "External";
    auto job = now([&] { return service.createJobNow(spec); });
    report(job.id, 10);  // Running, no lease: an external worker's job
    clock.advance(1ms);
  }
  // And one more of ours, newest of all, so recovery must page past the external ones
  // on both sides.
  auto newest = create();
  ASSERT_TRUE(now([&] { return service.claimNextNow(); }));

  auto requeued =
      now([&] { return service.recoverInterruptedNow([](const model::Job&) { return false; }); });
  std::sort(requeued.begin(), requeued.end());
  std::vector<std::string> expected{interrupted.id, newest.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(requeued, expected);
  EXPECT_EQ(store.getJob(interrupted.id)->status, JobStatus::Pending);
}

TEST_F(ProgressServiceTest, MetadataOverTheLimitIsRefusedOnCreateAndAfterMergingAReport) {
  service.setLimits({/*maxMetadataBytes=*/1024, /*maxCustomStagesPerVideo=*/8});
  jobs::NewJob big;
  big.jobType = "External";
  big.metadata["blob"] = std::string(1100, 'x');
  try {
    now([&] { return service.createJobNow(big); });
    FAIL() << "created a job with 1.1 KB of metadata";
  } catch (const jobs::JobRefused& refused) {
    EXPECT_EQ(refused.field(), "metadata");
    EXPECT_STREQ(refused.reason(), "metadata_too_large");
    EXPECT_NE(std::string(refused.what()).find("Jobs:MaxMetadataBytes"), std::string::npos);
  }
  EXPECT_TRUE(store.listJobs({}).empty());

  // Each report's metadata is small; what they add up to is not.
  jobs::NewJob spec;
  spec.jobType = "External";
  spec.metadata["a"] = std::string(600, 'a');
  auto job = now([&] { return service.createJobNow(spec); });
  jobs::ProgressReport r;
  r.progress = 10;
  r.metadata.emplace();
  (*r.metadata)["b"] = std::string(600, 'b');
  auto refused = now([&] { return service.reportNow(job.id, r); });
  EXPECT_EQ(refused.outcome, jobs::ReportOutcome::Refused);
  ASSERT_TRUE(refused.refusal);
  EXPECT_EQ(refused.refusal->field(), "metadata");
  // Nothing of the report was recorded: not its progress, not a history entry.
  auto stored = store.getJob(job.id);
  EXPECT_EQ(stored->sequence, 1);
  EXPECT_EQ(stored->progress, 0);
  EXPECT_FALSE(stored->metadata.contains("b"));

  // Replacing a key with a smaller value fits.
  (*r.metadata) = {{"a", "small"}, {"b", std::string(600, 'b')}};
  EXPECT_EQ(now([&] { return service.reportNow(job.id, r); }).outcome,
            jobs::ReportOutcome::Recorded);
}

TEST_F(ProgressServiceTest, JobTypesPastTheCustomStageLimitOfAVideoAreRefused) {
  service.setLimits({16 * 1024, /*maxCustomStagesPerVideo=*/3});
  auto make = [&](const std::string& type) {
    jobs::NewJob spec;
    spec.jobType = type;
    spec.videoId = "video-1";
    auto job = now([&] { return service.createJobNow(spec); });
    report(job.id, 5);  // the video gets the job's stage
    return job;
  };
  make("Transcription");  // a pipeline stage: not counted
  make("Custom1");
  make("Custom2");
  make("Custom3");
  make("Custom2");  // a stage the video has already
  try {
    make("Custom4");
    FAIL() << "a fourth custom stage was accepted";
  } catch (const jobs::JobRefused& refused) {
    EXPECT_EQ(refused.field(), "jobType");
    EXPECT_STREQ(refused.reason(), "too_many_stages");
  }
  auto video = store.getVideo("video-1");
  ASSERT_TRUE(video);
  EXPECT_EQ(video->stages.size(), 4u);
  EXPECT_FALSE(video->hasStage("Custom4"));
  // Another video has its own budget.
  jobs::NewJob other;
  other.jobType = "Custom4";
  other.videoId = "video-2";
  EXPECT_NO_THROW(now([&] { return service.createJobNow(other); }));
}
