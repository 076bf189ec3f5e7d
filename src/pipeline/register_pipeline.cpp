#include "pipeline/hashing_embedder.h"
#include "pipeline/pocketsphinx_recognizer.h"
#include "pipeline/processors.h"

namespace herald::pipeline {

void registerPipeline(jobs::JobEngine& engine, PipelineOptions options) {
  auto ctx = std::make_shared<PipelineContext>();
  ctx->options = std::move(options);
  ctx->recognizer = std::make_shared<PocketsphinxRecognizer>();
  ctx->embedder = std::make_shared<HashingEmbedder>();
  ctx->wakeEngine = [&engine] { engine.wake(); };
  engine.registerProcessor(std::string(model::kVideoProcessing), makeVideoProcessingProcessor(ctx));
  engine.registerProcessor(std::string(model::kTranscription), makeTranscriptionProcessor(ctx));
  engine.registerProcessor(std::string(model::kEmbeddingGeneration), makeEmbeddingProcessor(ctx));
}

}  // namespace herald::pipeline
