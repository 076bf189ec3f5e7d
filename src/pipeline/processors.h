#pragma once
// The built-in processors for the three job types of spec section 4, and their wiring
// into the job engine. Each reports the spec's exact stage flow.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/media_url.h"

#include "jobs/job_engine.h"
#include "pipeline/embedder.h"
#include "pipeline/recognizer.h"

namespace herald::pipeline {

struct PipelineOptions {
  std::string dataDir = "./data";  // media goes to <dataDir>/media/<videoId>/
  std::string ffmpeg = "ffmpeg";
  std::string ffprobe = "ffprobe";
  std::string ytDlp = "yt-dlp";
  std::size_t maxDownloadBytes = 2ULL * 1024 * 1024 * 1024;
  // Pipeline:MaxMediaBytes: all media under <dataDir>/media (media_storage.h's policy).
  std::uint64_t maxMediaBytes = 20ULL * 1024 * 1024 * 1024;
  std::chrono::seconds downloadTimeout{600};
  int embeddingBatchSize = 16;
  bool autoTranscribe = true;
  bool autoGenerateEmbeddings = true;
  int maxAttempts = 3;
  // The ingest rules, applied again by the VideoProcessing job to the URL it is given
  // (a job created through POST /api/v1/jobs carries whatever metadata its caller chose).
  core::MediaUrlPolicy urlPolicy;
  std::vector<std::string> localFileRoots;  // AppSettings:LocalFileRoots; empty: anywhere
  // TEST HOOK Pipeline:TestResolverHosts (downloader.h).
  std::optional<std::map<std::string, std::string>> simulatedHosts;
};

// The resolved path of a media file a job may read: inside <dataDir>/media (what Herald
// downloaded itself) or, with AllowLocalFiles, inside LocalFileRoots. Throws
// jobs::PermanentError otherwise.
std::string allowedMediaPath(const PipelineOptions& options, const std::string& path);

// Everything the processors share.
struct PipelineContext {
  PipelineOptions options;
  std::shared_ptr<Recognizer> recognizer;
  std::shared_ptr<Embedder> embedder;
  std::function<void()> wakeEngine;  // a child job was queued
};

jobs::ProcessorPtr makeVideoProcessingProcessor(std::shared_ptr<PipelineContext> context);
jobs::ProcessorPtr makeTranscriptionProcessor(std::shared_ptr<PipelineContext> context);
jobs::ProcessorPtr makeEmbeddingProcessor(std::shared_ptr<PipelineContext> context);

// Registers all three with the engine (recogniser: pocketsphinx; embedder: hashing).
void registerPipeline(jobs::JobEngine& engine, PipelineOptions options);

}  // namespace herald::pipeline
