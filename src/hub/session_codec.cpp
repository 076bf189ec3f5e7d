#include "hub/session_codec.h"

#include <charconv>

namespace herald::hub {

namespace {

// Reads a decimal integer up to `:`; advances `text` past the colon.
std::optional<std::int64_t> readNumber(std::string_view& text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::int64_t value = 0;
  const auto* first = text.data();
  const auto* last = text.data() + colon;
  auto [end, ec] = std::from_chars(first, last, value);
  if (ec != std::errc() || end != last || value < 0) return std::nullopt;
  text.remove_prefix(colon + 1);
  return value;
}

std::optional<std::int64_t> parseNumber(const std::string& text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

std::string encodeMirroredFrame(const MirroredFrame& frame) {
  std::string out = std::to_string(frame.sequence);
  out += ':';
  out += std::to_string(frame.jobSequence);
  out += ':';
  out += std::to_string(frame.jobId.size());
  out += ':';
  out += frame.jobId;
  if (frame.bytes) out += *frame.bytes;
  return out;
}

std::optional<MirroredFrame> decodeMirroredFrame(std::string_view text) {
  MirroredFrame f;
  auto sequence = readNumber(text);
  if (!sequence || *sequence == 0) return std::nullopt;
  auto jobSequence = readNumber(text);
  if (!jobSequence) return std::nullopt;
  auto jobIdLength = readNumber(text);
  if (!jobIdLength || static_cast<std::uint64_t>(*jobIdLength) > text.size()) return std::nullopt;
  f.sequence = *sequence;
  f.jobSequence = *jobSequence;
  f.jobId = std::string(text.substr(0, static_cast<std::size_t>(*jobIdLength)));
  text.remove_prefix(static_cast<std::size_t>(*jobIdLength));
  if (text.empty()) return std::nullopt;  // every numbered frame has bytes
  f.bytes = std::make_shared<const Frame>(text);
  return f;
}

RecordFields encodeSessionRecord(const SessionState& state, const std::string& owner,
                                 std::int64_t epoch) {
  const auto& p = state.principal;
  std::string roles;
  for (const auto& r : p.roles) {
    if (!roles.empty()) roles += '\n';
    roles += r;
  }
  RecordFields fields{
      {"id", state.connectionId},
      {"proto", state.protocol},
      {"uid", p.userId},
      {"roles", roles},
      {"auth", p.authenticated ? "1" : "0"},
      {"exp", std::to_string(p.expiresAt)},
      {"apikey", p.apiKey ? "1" : "0"},
      {"owner", owner},
      {"epoch", std::to_string(epoch)},
      {"total", std::to_string(state.totalSent)},
  };
  for (const auto& g : state.groups) fields.emplace_back(groupField(g), "1");
  for (const auto& [job, mark] : state.jobMarks) {
    fields.emplace_back(jobMarkField(job), std::to_string(mark));
  }
  return fields;
}

std::optional<DecodedRecord> decodeSessionRecord(const RecordFields& fields) {
  DecodedRecord out;
  auto& s = out.state;
  bool haveId = false, haveProto = false, haveEpoch = false, haveTotal = false;
  for (const auto& [name, value] : fields) {
    if (name == "id") {
      s.connectionId = value;
      haveId = !value.empty();
    } else if (name == "proto") {
      s.protocol = value;
      haveProto = !value.empty();
    } else if (name == "uid") {
      s.principal.userId = value;
    } else if (name == "roles") {
      std::size_t start = 0;
      while (start < value.size()) {
        auto end = value.find('\n', start);
        if (end == std::string::npos) end = value.size();
        s.principal.roles.push_back(value.substr(start, end - start));
        start = end + 1;
      }
    } else if (name == "auth") {
      s.principal.authenticated = value == "1";
    } else if (name == "apikey") {
      s.principal.apiKey = value == "1";
    } else if (name == "exp") {
      auto n = parseNumber(value);
      if (!n) return std::nullopt;
      s.principal.expiresAt = *n;
    } else if (name == "epoch") {
      auto n = parseNumber(value);
      if (!n) return std::nullopt;
      out.epoch = *n;
      haveEpoch = true;
    } else if (name == "total") {
      auto n = parseNumber(value);
      if (!n || *n < 0) return std::nullopt;
      s.totalSent = *n;
      haveTotal = true;
    } else if (name.rfind("g:", 0) == 0) {
      s.groups.insert(name.substr(2));
    } else if (name.rfind("j:", 0) == 0) {
      auto n = parseNumber(value);
      if (!n) return std::nullopt;
      s.jobMarks[name.substr(2)] = *n;
    }
    // "owner" and fields of later versions: not needed to adopt.
  }
  if (!haveId || !haveProto || !haveEpoch || !haveTotal) return std::nullopt;
  return out;
}

}  // namespace herald::hub
