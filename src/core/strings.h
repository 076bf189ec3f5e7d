#pragma once
// Small string helpers shared by the HTTP and hub layers.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::core {

bool iequals(std::string_view a, std::string_view b);
std::string toLower(std::string_view s);

// Decodes one query-string component with form rules ('+' is a space), as ASP.NET does;
// returns nullopt on a malformed %-escape.
std::optional<std::string> formDecode(std::string_view s);

// Parses "a=1&b=2" into pairs (decoded). Malformed pieces are skipped.
std::vector<std::pair<std::string, std::string>> parseQuery(std::string_view query);

// Case-insensitive lookup in parsed query pairs (first match).
std::optional<std::string> queryValue(const std::vector<std::pair<std::string, std::string>>& query,
                                      std::string_view key);

}  // namespace herald::core
