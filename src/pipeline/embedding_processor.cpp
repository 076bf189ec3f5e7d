// EmbeddingGeneration: loads the video's transcript segments and embeds them in
// batches, reporting 0 starting, 10 loaded, 10-90 by batch ("Processed k/N segments"),
// then stores the vectors (100 is recorded by the engine).
#include <algorithm>

#include <spdlog/spdlog.h>

#include "jobs/progress_service.h"
#include "pipeline/errors.h"
#include "pipeline/processors.h"

namespace herald::pipeline {

namespace {

class EmbeddingProcessor final : public jobs::Processor {
 public:
  explicit EmbeddingProcessor(std::shared_ptr<PipelineContext> ctx) : ctx_(std::move(ctx)) {}

  jobs::Outcome run(jobs::JobContext& job) override {
    auto& progress = job.progress;
    auto& service = job.service;
    const auto videoId = job.job.videoId;
    progress.report(0, "Starting embedding generation", "Embedding with " + ctx_->embedder->name());
    auto segments = service.onStoreSync(service.laneOf(job.job),
                                        [&](storage::Store& s) { return s.transcript(videoId); });
    const auto n = segments.size();
    progress.report(10, "Loading segments", "Loaded " + std::to_string(n) + " segments");

    std::vector<std::vector<float>> vectors;
    vectors.reserve(n);
    const auto batch = static_cast<std::size_t>(std::max(1, ctx_->options.embeddingBatchSize));
    for (std::size_t i = 0; i < n; i += batch) {
      if (job.cancel) throw Cancelled();
      std::vector<std::string> texts;
      for (std::size_t j = i; j < std::min(n, i + batch); ++j) texts.push_back(segments[j].text);
      auto out = ctx_->embedder->embed(texts);
      for (auto& v : out) vectors.push_back(std::move(v));
      const auto done = std::min(n, i + batch);
      progress.report(10 + 80.0 * static_cast<double>(done) / static_cast<double>(n),
                      "Generating embeddings",
                      "Processed " + std::to_string(done) + "/" + std::to_string(n) + " segments");
    }
    // Only while this attempt holds the lease (see the transcription processor).
    const auto saved = service.onStoreFenced(job.job, [&](storage::Store& s) {
      s.saveEmbeddings(videoId, ctx_->embedder->name(), vectors);
      return 0;
    });
    if (!saved) throw jobs::LeaseLost();
    spdlog::info("job {}: stored {} embeddings ({} dimensions)", job.job.id, vectors.size(),
                 ctx_->embedder->dimension());
    return jobs::Outcome::Completed;
  }

 private:
  std::shared_ptr<PipelineContext> ctx_;
};

}  // namespace

jobs::ProcessorPtr makeEmbeddingProcessor(std::shared_ptr<PipelineContext> context) {
  return std::make_shared<EmbeddingProcessor>(std::move(context));
}

}  // namespace herald::pipeline
