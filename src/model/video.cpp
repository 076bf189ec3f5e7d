#include "model/video.h"

#include <array>
#include <utility>

namespace herald::model {

namespace {

template <class E, std::size_t N>
std::string_view nameOf(const std::array<std::pair<E, std::string_view>, N>& names, E e) {
  for (const auto& [value, name] : names) {
    if (value == e) return name;
  }
  return names[0].second;
}

template <class E, std::size_t N>
std::optional<E> parse(const std::array<std::pair<E, std::string_view>, N>& names,
                       std::string_view text) {
  for (const auto& [value, name] : names) {
    if (name == text) return value;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<StageStatus, std::string_view>, 5> kStage{{
    {StageStatus::Pending, "Pending"},
    {StageStatus::InProgress, "InProgress"},
    {StageStatus::Completed, "Completed"},
    {StageStatus::Failed, "Failed"},
    {StageStatus::Cancelled, "Cancelled"},
}};
constexpr std::array<std::pair<ProcessingStatus, std::string_view>, 4> kProcessing{{
    {ProcessingStatus::Pending, "Pending"},
    {ProcessingStatus::Processing, "Processing"},
    {ProcessingStatus::Completed, "Completed"},
    {ProcessingStatus::Failed, "Failed"},
}};
constexpr std::array<std::pair<TranscriptionStatus, std::string_view>, 5> kTranscription{{
    {TranscriptionStatus::NotStarted, "NotStarted"},
    {TranscriptionStatus::Pending, "Pending"},
    {TranscriptionStatus::InProgress, "InProgress"},
    {TranscriptionStatus::Completed, "Completed"},
    {TranscriptionStatus::Failed, "Failed"},
}};
constexpr std::array<std::pair<EmbeddingStatus, std::string_view>, 6> kEmbedding{{
    {EmbeddingStatus::NotStarted, "NotStarted"},
    {EmbeddingStatus::Pending, "Pending"},
    {EmbeddingStatus::InProgress, "InProgress"},
    {EmbeddingStatus::Completed, "Completed"},
    {EmbeddingStatus::Partial, "Partial"},
    {EmbeddingStatus::Failed, "Failed"},
}};

}  // namespace

std::string_view toString(StageStatus s) { return nameOf(kStage, s); }
std::string_view toString(ProcessingStatus s) { return nameOf(kProcessing, s); }
std::string_view toString(TranscriptionStatus s) { return nameOf(kTranscription, s); }
std::string_view toString(EmbeddingStatus s) { return nameOf(kEmbedding, s); }
std::optional<StageStatus> parseStageStatus(std::string_view t) { return parse(kStage, t); }
std::optional<ProcessingStatus> parseProcessingStatus(std::string_view t) {
  return parse(kProcessing, t);
}
std::optional<TranscriptionStatus> parseTranscriptionStatus(std::string_view t) {
  return parse(kTranscription, t);
}
std::optional<EmbeddingStatus> parseEmbeddingStatus(std::string_view t) {
  return parse(kEmbedding, t);
}

const VideoStage* Video::stage(std::string_view name) const {
  for (const auto& s : stages) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

VideoStage* Video::stage(std::string_view name) {
  for (auto& s : stages) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace herald::model
