// herald: the command line. `herald serve` runs the server; flags override
// appsettings.json, which environment variables (Section__Key) override first.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "cli/client_commands.h"
#include "config/load.h"
#include "server/json_log_format.h"
#include "server/text_log_format.h"
#include "server/server.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"Herald: background video jobs with live SignalR progress"};
  app.set_version_flag("--version", std::string("herald ") + HERALD_VERSION);
  app.require_subcommand(1);

  auto* serve = app.add_subcommand("serve", "Run the server (hub, REST API, jobs)");
  std::string configFile;
  std::string urls;
  std::string dataDir;
  std::string webRoot;
  std::string logLevel = "info";
  serve->add_option("--config", configFile,
                    "appsettings.json to read (default: ./appsettings.json if present)");
  serve->add_option("--urls", urls,
                    "Address to listen on, http://HOST:PORT (default http://localhost:5000)");
  serve->add_option("--data-dir", dataDir, "Folder for the SQLite database (default ./data)");
  serve->add_option("--web-root", webRoot,
                    "Folder served as static files (default: the bundled web/)");
  serve->add_option("--log-level", logLevel, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  herald::cli::ClientOptions clientOptions;
  auto* ingest =
      app.add_subcommand("ingest", "Submit a video to a running server and watch its progress");
  std::string ingestUrl, ingestUser;
  int ingestPriority = 0;
  bool noWatch = false;
  ingest->add_option("url", ingestUrl, "Video URL: http(s), YouTube, or file:// / an absolute path")
      ->required();
  ingest->add_option("--user", ingestUser, "User id that owns the job");
  ingest->add_option("--priority", ingestPriority, "0 (default) to 3 (highest)")
      ->check(CLI::Range(0, 3));
  ingest->add_flag("--no-watch", noWatch, "Print the job id and return without watching");
  auto* watch = app.add_subcommand("watch", "Show a job's live progress from a running server");
  std::string watchJob;
  watch->add_option("job_id", watchJob, "The job to follow")->required();
  for (auto* sub : {ingest, watch}) {
    sub->add_option("--server", clientOptions.server,
                    "Herald's address (default http://localhost:5000)");
    sub->add_flag("--plain", clientOptions.plain, "One line per update instead of a progress bar");
  }

  CLI11_PARSE(app, argc, argv);
  if (*ingest) {
    return herald::cli::ingestCommand(ingestUrl, ingestUser, ingestPriority, !noWatch,
                                      clientOptions);
  }
  if (*watch) return herald::cli::watchCommand(watchJob, clientOptions);

  spdlog::set_level(spdlog::level::from_str(logLevel));
  herald::server::useTextLogFormat();

  herald::config::Config config;
  std::string configRead;  // logged once the log format is known
  try {
    std::string path = configFile.empty() ? "appsettings.json" : configFile;
    if (std::filesystem::exists(path)) {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      herald::config::applyJson(config, ss.str());
      configRead = path;
    } else if (!configFile.empty()) {
      std::cerr << "herald: config file not found: " << configFile << "\n";
      return 2;
    }
    herald::config::applyEnvironment(config, herald::config::processEnvironment());
    if (!urls.empty()) herald::config::applyUrls(config, urls);
    if (!dataDir.empty()) config.server.dataDir = dataDir;
    if (!webRoot.empty()) config.app.webRoot = webRoot;
    herald::config::finalize(config);
  } catch (const std::exception& e) {
    std::cerr << "herald: " << e.what() << "\n";
    return 2;
  }
  if (config.logging.format == "json") herald::server::useJsonLogFormat();
  if (!configRead.empty()) spdlog::info("config: read {}", configRead);
  return herald::server::runServer(config);
}

}  // namespace

// An exception that escapes (a port already in use, a store that cannot be opened) ends
// the process with its message and exit code 1 rather than std::terminate's abort.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "herald: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "herald: unknown error\n";
  }
  return 1;
}
