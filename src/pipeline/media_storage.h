#pragma once
// Downloaded media on disk: <dataDir>/media/<videoId>/. Before, nothing was ever deleted,
// not even after a failed ingest, and nothing bounded the total.
//
// Policy (docs/operations.md, "Media on disk"):
// - A failed or cancelled ingest's files are deleted at once (a retry downloads again).
// - A video's media is kept after ingestion: transcription reads it, and a retried
//   transcription reads it again.
// - Pipeline:MaxMediaBytes bounds the total. An ingest that needs room first evicts the
//   media of finished videos (their pipeline Completed or Failed), least recently written
//   first; if still not enough is free, the ingest is retried later (a transient failure,
//   its message says the quota is full) and fails once its attempts are used up. A
//   download is also capped at the room left, so the quota holds while it runs.
//
// Thread safety: the functions touch only the file system; two workers ingesting at once
// may each see the other's partial download, so the quota holds to within one download's
// size per extra worker.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace herald::pipeline {

// Bytes of regular files under `root` (0 when it does not exist).
std::uint64_t mediaBytes(const std::filesystem::path& root);

// Deletes <root>/<videoId> and everything in it; false if something could not be removed.
bool removeVideoMedia(const std::filesystem::path& root, const std::string& videoId);

// Makes room for a download into <root>/<keepVideoId>: while the media under `root` plus
// `wanted` bytes is over `maxBytes`, deletes the least recently written video folder whose
// video `finished(videoId)` says may go (never keepVideoId's). Returns the bytes free under
// the quota afterwards (0 when full).
std::uint64_t makeRoom(const std::filesystem::path& root, std::uint64_t maxBytes,
                       std::uint64_t wanted, const std::string& keepVideoId,
                       const std::function<bool(const std::string& videoId)>& finished);

}  // namespace herald::pipeline
