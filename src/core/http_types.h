#pragma once
// Transport-neutral HTTP request/response values. The http/ layer converts Beast
// messages to and from these so that API and negotiate code never include Beast.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace herald::core {

struct HttpRequest {
  std::string method;                                      // upper case
  std::string path;                                        // decoded path without the query
  std::string target;                                      // raw request target
  std::vector<std::pair<std::string, std::string>> query;  // decoded
  std::map<std::string, std::string> headers;              // lower-case names
  std::string body;
  std::string remoteAddress;

  std::optional<std::string> header(const std::string& lowerName) const {
    auto it = headers.find(lowerName);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string contentType = "application/json; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // For an error answer, the metrics' reason when finer than its status (e.g. bad_json).
  const char* rejectReason = nullptr;
  // A file sent as the body instead of `body` (a large static file): the server streams it
  // in chunks, so a download costs one chunk of memory, not the whole file.
  std::string bodyFile;
};

}  // namespace herald::core
