// Which local files a pipeline job may hand to ffprobe and ffmpeg. The jobs check this
// themselves, on the resolved path, whatever the job's metadata says: the ingest route
// checks too, but stored metadata can change later (reports merge into it), and a symlink
// can change between ingest and the job running.
#include <filesystem>

#include "core/local_files.h"
#include "jobs/job_engine.h"
#include "pipeline/processors.h"

namespace herald::pipeline {

std::string allowedMediaPath(const PipelineOptions& options, const std::string& path) {
  std::string error;
  // What Herald downloaded itself.
  const auto ownMedia = (std::filesystem::path(options.dataDir) / "media").string();
  if (auto own = core::confineToRoots(path, {ownMedia}, error)) return *own;
  if (!options.urlPolicy.allowLocalFiles) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw jobs::PermanentError(error);
    throw jobs::PermanentError(
        "local files are not allowed on this server "
        "(AppSettings:AllowLocalFiles): " +
        path);
  }
  if (auto local = core::confineToRoots(path, options.localFileRoots, error)) return *local;
  throw jobs::PermanentError(error);
}

}  // namespace herald::pipeline
