#pragma once
// Builds a Config from a JSON document and ASP.NET-style environment overrides.
#include <map>
#include <optional>
#include <string>

#include "config/config.h"
#include "core/media_url.h"

namespace herald::config {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Applies the JSON text of an appsettings file onto `config`. Throws ConfigError with
// the offending key on a wrong type or a malformed document.
void applyJson(Config& config, const std::string& jsonText);

// Applies `Section__Key=value` variables (case-insensitive section and key names),
// e.g. AppSettings__EnableAuth=true, SignalR__KeepAliveInterval=10,
// ConnectionStrings__Default=..., AppSettings__AllowedOrigins__0=http://a.
void applyEnvironment(Config& config, const std::map<std::string, std::string>& env);

// Reads the process environment into a map (only names containing "__" or "URLS").
std::map<std::string, std::string> processEnvironment();

// Parses "http://host:port" (first of a ';'-separated list) into server.host/port.
void applyUrls(Config& config, const std::string& urls);

// Final checks and derived defaults (detailed errors follow IsProduction unless set).
// Throws ConfigError for a setting the server cannot honour (EnableAuth=true without a
// key, or with a Jwt:Secret shorter than 32 bytes).
void finalize(Config& config);

// Downloads refuse loopback, private, link-local and metadata addresses: in production,
// unless AppSettings:AllowPrivateNetworkDownloads (docs/security.md "Downloads").
bool refusePrivateDownloads(const Config& config);

// The rules an ingest URL is classified by (core/media_url.h), from the settings.
core::MediaUrlPolicy mediaUrlPolicy(const Config& config);

}  // namespace herald::config
