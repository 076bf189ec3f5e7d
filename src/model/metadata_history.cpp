#include "model/metadata_history.h"

#include <system_error>

#include <boost/json/parse.hpp>

#include "core/json_text.h"

namespace herald::model {

namespace json = boost::json;

MetadataRecord recordMetadata(const json::object& before, const json::object& after,
                              const std::string& fullText, std::size_t patchBytesSinceFull) {
  if (before == after) return {};
  json::object patch;
  for (const auto& [key, value] : after) {
    const auto* old = before.if_contains(key);
    if (!old || *old != value) patch[key] = value;
  }
  bool removed = false;
  for (const auto& [key, value] : before) {
    if (!after.contains(key)) {
      removed = true;  // a patch only sets keys
      break;
    }
  }
  if (!removed) {
    auto text = core::toJson(patch);
    if (patchBytesSinceFull + text.size() <= fullText.size()) {
      return {MetadataKind::Patch, std::move(text)};
    }
  }
  return {MetadataKind::Full, fullText};
}

void applyMetadata(json::object& state, MetadataKind kind, std::string_view text) {
  if (kind == MetadataKind::Same) return;
  std::error_code ec;
  json::value v = json::parse(text, ec);
  json::object delta;
  if (!ec && v.is_object()) delta = std::move(v.as_object());
  if (kind == MetadataKind::Full) {
    state = std::move(delta);
    return;
  }
  for (auto& [key, value] : delta) state[key] = std::move(value);
}

MetadataKind metadataKindFrom(long long value) {
  if (value == 0) return MetadataKind::Same;
  if (value == 2) return MetadataKind::Patch;
  return MetadataKind::Full;
}

}  // namespace herald::model
