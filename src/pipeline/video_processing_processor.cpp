// VideoProcessing: resolve the URL to a local media file (yt-dlp, download, or a local
// path), probe title and duration, then queue transcription. The job then waits: it
// stands for the whole pipeline and the progress service completes it with the last
// stage (spec section 4).
#include <algorithm>
#include <filesystem>
#include <regex>

#include <spdlog/spdlog.h>

#include "jobs/progress_service.h"
#include "pipeline/downloader.h"
#include "pipeline/errors.h"
#include "pipeline/media_probe.h"
#include "pipeline/media_storage.h"
#include "pipeline/process_runner.h"
#include "pipeline/processors.h"

namespace herald::pipeline {

namespace fs = std::filesystem;
using jobs::JobContext;
using model::StageStatus;

namespace {

std::string metaString(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

class VideoProcessingProcessor final : public jobs::Processor {
 public:
  explicit VideoProcessingProcessor(std::shared_ptr<PipelineContext> ctx) : ctx_(std::move(ctx)) {}

  jobs::Outcome run(JobContext& job) override {
    const auto& videoId = job.job.videoId;
    if (videoId.empty()) throw jobs::PermanentError("the job names no video");
    auto& service = job.service;
    // A restart may find ingestion done already: then only the children remain.
    auto video = service.onStoreSync(service.laneOf(job.job),
                                     [&](storage::Store& s) { return s.getVideo(videoId); });
    if (!video) throw jobs::PermanentError("video " + videoId + " does not exist");
    if (jobs::VideoPipeline::ingestionDone(*video)) return jobs::Outcome::Waiting;
    try {
      return ingest(job, *video);
    } catch (const jobs::LeaseLost&) {
      throw;  // not ours any more: no stage to write, no files to delete (the new holder's)
    } catch (...) {
      // A failed or cancelled ingest keeps nothing on disk (a retry downloads again). Only
      // Herald's own folder for the video is removed: a local file is never ours to delete.
      removeVideoMedia(mediaRoot(), videoId);
      fail(job);
    }
  }

 private:
  fs::path mediaRoot() const { return fs::path(ctx_->options.dataDir) / "media"; }

  // Marks the Ingestion stage for the exception in flight, and rethrows it.
  [[noreturn]] static void fail(JobContext& job) {
    try {
      throw;
    } catch (const Cancelled&) {
      stage(job, StageStatus::Cancelled, 0, "Cancelled");
      throw;
    } catch (const std::exception& e) {
      if (job.cancel) {
        stage(job, StageStatus::Cancelled, 0, "Cancelled");
        throw;
      }
      // Transient failures are retried by the engine: leave the stage in progress.
      if (!dynamic_cast<const jobs::TransientError*>(&e) ||
          job.job.attempts >= job.job.maxAttempts) {
        stage(job, StageStatus::Failed, 0, e.what(), std::string(e.what()));
      }
      throw;
    }
  }

  // The video's Ingestion stage, written only while this attempt holds the job's lease.
  static void stage(JobContext& job, StageStatus status, double progress,
                    const std::string& message, std::optional<std::string> error = std::nullopt) {
    auto& service = job.service;
    const auto written = service.onStoreFenced(job.job, [&](storage::Store&) {
      service.videos().updateIngestionNow(job.job.videoId, status, progress, message, error);
      return 0;
    });
    if (!written) throw jobs::LeaseLost();
  }

  jobs::Outcome ingest(JobContext& job, const model::Video& video) {
    auto& service = job.service;
    const auto& videoId = video.id;
    const auto& md = job.job.metadata;
    auto url = metaString(md, "url");
    stage(job, StageStatus::InProgress, 5, "Resolving " + url);

    // The URL is classified again under the server's rules, never taken from the job's
    // "source": stored metadata can change after ingest (reports merge into it).
    std::string refused;
    auto media = core::classifyMediaUrl(url, ctx_->options.urlPolicy, refused);
    if (!media) throw jobs::PermanentError("refused: " + refused);
    std::string mediaPath;
    auto dir = fs::path(ctx_->options.dataDir) / "media" / videoId;
    if (media->source == core::MediaSource::LocalFile) {
      mediaPath = allowedMediaPath(ctx_->options, media->path);
    } else {
      fs::create_directories(dir);
      const auto room = roomForDownload(job, videoId);
      if (media->source == core::MediaSource::YouTube) {
        mediaPath = fetchYouTube(job, url, dir, room);
      } else {
        mediaPath = (dir / "source.media").string();
        fetchHttp(job, url, mediaPath, room);
      }
    }
    if (job.cancel) throw Cancelled();

    stage(job, StageStatus::InProgress, 85, "Probing media");
    MediaInfo info;
    try {
      info = probeMedia(mediaPath, ctx_->options.ffprobe);
    } catch (const MediaError& e) {
      throw jobs::PermanentError(e.what());
    }
    spdlog::info("job {}: media '{}' ({:.1f} s)", job.job.id, info.title, info.durationSeconds);

    // Ingestion done and the next stage queued in one step on the video's lane, so a crash
    // leaves either no child or a completed ingestion with its child; and only while this
    // attempt holds the lease (else another node's attempt runs the pipeline).
    auto waiting = service.onStoreFenced(job.job, [&](storage::Store&) {
      auto& videos = service.videos();
      videos.recordMediaNow(videoId, info.title, info.durationSeconds);
      boost::json::object meta;
      meta["mediaPath"] = mediaPath;
      meta["durationSeconds"] = info.durationSeconds;
      meta["title"] = info.title;
      const bool hasTranscription = videos.queueStageJobNow(
          job.job, model::kTranscription, std::move(meta), ctx_->options.maxAttempts);
      videos.updateIngestionNow(videoId, StageStatus::Completed, 100,
                                "Title: " + info.title + ", duration: " +
                                    std::to_string(static_cast<int>(info.durationSeconds)) + " s");
      return hasTranscription;
    });
    if (!waiting) throw jobs::LeaseLost();
    if (*waiting && ctx_->wakeEngine) ctx_->wakeEngine();
    return *waiting ? jobs::Outcome::Waiting : jobs::Outcome::Completed;
  }

  // The most this download may write: Pipeline:MaxDownloadBytes, or less when the media
  // quota (Pipeline:MaxMediaBytes) has less room even after evicting finished videos'
  // media. Throws TransientError (retried later) when it has next to none.
  std::uint64_t roomForDownload(JobContext& job, const std::string& videoId) {
    const auto& o = ctx_->options;
    const std::uint64_t wanted =
        std::min<std::uint64_t>({o.maxDownloadBytes, kMinDownloadRoom, o.maxMediaBytes / 4});
    auto& service = job.service;
    const auto room =
        makeRoom(mediaRoot(), o.maxMediaBytes, wanted, videoId, [&](const std::string& id) {
          auto v = service.onStoreSync(service.laneOfKey(id),
                                       [&](storage::Store& s) { return s.getVideo(id); });
          return v && (v->processingStatus == model::ProcessingStatus::Completed ||
                       v->processingStatus == model::ProcessingStatus::Failed);
        });
    if (room < wanted) {
      throw jobs::TransientError(
          "media storage is full: " + std::to_string(room) + " of Pipeline:MaxMediaBytes (" +
          std::to_string(o.maxMediaBytes) +
          " bytes) left and no finished video's media to evict; retrying later");
    }
    return std::min<std::uint64_t>(room, o.maxDownloadBytes);
  }

  void fetchHttp(JobContext& job, const std::string& url, const std::string& path,
                 std::uint64_t room) {
    DownloadOptions opts;
    opts.maxBytes = static_cast<std::size_t>(room);
    opts.timeout = ctx_->options.downloadTimeout;
    opts.cancel = &job.cancel;
    opts.refusePrivateAddresses = ctx_->options.urlPolicy.refusePrivateHosts;
    opts.simulatedHosts = ctx_->options.simulatedHosts;
    auto lastReport = std::chrono::steady_clock::now();
    opts.onProgress = [&](double fraction, std::size_t bytes) {
      auto now = std::chrono::steady_clock::now();
      if (now - lastReport < std::chrono::milliseconds(200)) return;
      lastReport = now;
      double p = fraction >= 0 ? 5 + 75 * fraction : 40;
      stage(job, StageStatus::InProgress, p,
            "Downloading: " + std::to_string(bytes / 1024) + " KiB");
    };
    stage(job, StageStatus::InProgress, 5, "Downloading " + url);
    try {
      downloadToFile(url, path, opts);
    } catch (const DownloadUnavailable& e) {
      throw jobs::TransientError(std::string("download failed: ") + e.what());
    } catch (const DownloadRefused& e) {
      spdlog::warn("job {}: {}", job.job.id, e.what());
      throw jobs::PermanentError(std::string("download failed: ") + e.what());
    } catch (const MediaError& e) {
      if (room < ctx_->options.maxDownloadBytes) {
        // Too large for the room the quota left now, not for Pipeline:MaxDownloadBytes:
        // finished videos' media may be evicted by then.
        throw jobs::TransientError(std::string("download failed: ") + e.what() +
                                   " (the room left under Pipeline:MaxMediaBytes); retrying later");
      }
      throw jobs::PermanentError(std::string("download failed: ") + e.what());
    }
  }

  std::string fetchYouTube(JobContext& job, const std::string& url, const fs::path& dir,
                           std::uint64_t room) {
    static const std::regex percent(R"(\[download\]\s+([0-9.]+)%)");
    ProcessOptions opts;
    opts.cancel = &job.cancel;
    auto lastReport = std::chrono::steady_clock::now();
    opts.onStdoutLine = [&](std::string_view line) {
      std::cmatch m;
      if (!std::regex_search(line.begin(), line.end(), m, percent)) return;
      auto now = std::chrono::steady_clock::now();
      if (now - lastReport < std::chrono::milliseconds(200)) return;
      lastReport = now;
      stage(job, StageStatus::InProgress, 5 + 0.75 * std::stod(m[1].str()),
            "Downloading from YouTube");
    };
    auto result = runProcess(
        {ctx_->options.ytDlp, "--no-playlist", "--newline", "--max-filesize", std::to_string(room),
         "-f", "best", "-o", (dir / "source.%(ext)s").string(), "--", url},
        opts);
    if (result.cancelled) throw Cancelled();
    if (jobs::isResourceShortage(result.errorNumber)) {
      throw jobs::ResourceShortage("yt-dlp could not run: " + result.error);
    }
    if (!result.error.empty()) throw jobs::PermanentError("yt-dlp could not run: " + result.error);
    if (result.exitCode != 0) {
      auto tail = result.stderrTail;
      if (tail.size() > 500) tail = tail.substr(tail.size() - 500);
      throw jobs::TransientError("yt-dlp failed (exit " + std::to_string(result.exitCode) +
                                 "): " + tail);
    }
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().filename().string().rfind("source.", 0) == 0) return entry.path().string();
    }
    throw jobs::PermanentError("yt-dlp reported success but wrote no file");
  }

  // An ingest needs this much room under the media quota to start (or a quarter of the
  // quota, or Pipeline:MaxDownloadBytes, if smaller).
  static constexpr std::uint64_t kMinDownloadRoom = 64ULL * 1024 * 1024;

  std::shared_ptr<PipelineContext> ctx_;
};

}  // namespace

jobs::ProcessorPtr makeVideoProcessingProcessor(std::shared_ptr<PipelineContext> context) {
  return std::make_shared<VideoProcessingProcessor>(std::move(context));
}

}  // namespace herald::pipeline
