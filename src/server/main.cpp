// herald: the command line. `herald serve` runs the server; flags override
// appsettings.json, which environment variables (Section__Key) override first.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "config/load.h"
#include "server/server.h"

int main(int argc, char** argv) {
  CLI::App app{"Herald: background video jobs with live SignalR progress"};
  app.require_subcommand(1);

  auto* serve = app.add_subcommand("serve", "Run the server (hub, REST API, jobs)");
  std::string configFile;
  std::string urls;
  std::string dataDir;
  std::string webRoot;
  std::string logLevel = "info";
  serve->add_option("--config", configFile,
                    "appsettings.json to read (default: ./appsettings.json if present)");
  serve->add_option("--urls", urls, "Address to listen on, http://HOST:PORT (default http://localhost:5000)");
  serve->add_option("--data-dir", dataDir, "Folder for the SQLite database (default ./data)");
  serve->add_option("--web-root", webRoot, "Folder served as static files (default: the bundled web/)");
  serve->add_option("--log-level", logLevel, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));

  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(logLevel));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");

  herald::config::Config config;
  try {
    std::string path = configFile.empty() ? "appsettings.json" : configFile;
    if (std::filesystem::exists(path)) {
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      herald::config::applyJson(config, ss.str());
      spdlog::info("config: read {}", path);
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
  return herald::server::runServer(config);
}
