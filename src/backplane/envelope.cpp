#include "backplane/envelope.h"

#include <cstdint>
#include <cstring>

namespace herald::backplane {

namespace {

// HB2 added the origin node (HB1 never crossed a process: it had no networked backplane).
constexpr std::string_view kMagic = "HB2";

void putU32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void putI64(std::string& out, std::int64_t v) {
  auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
}

void putString(std::string& out, std::string_view s) {
  putU32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// Reads from the front of `in`, shrinking it; false when too few bytes are left.
bool getU32(std::string_view& in, std::uint32_t& v) {
  if (in.size() < 4) return false;
  v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(4);
  return true;
}

bool getI64(std::string_view& in, std::int64_t& v) {
  if (in.size() < 8) return false;
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i)
    u |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(8);
  v = static_cast<std::int64_t>(u);
  return true;
}

bool getString(std::string_view& in, std::string& s) {
  std::uint32_t n = 0;
  if (!getU32(in, n) || in.size() < n) return false;
  s.assign(in.substr(0, n));
  in.remove_prefix(n);
  return true;
}

char kindByte(TargetKind k) {
  switch (k) {
    case TargetKind::All: return 'A';
    case TargetKind::Group: return 'G';
    case TargetKind::Connection: return 'C';
  }
  return 'A';
}

}  // namespace

std::string encodeEnvelope(const Envelope& e) {
  std::string out;
  out.reserve(36 + e.origin.size() + e.target.name.size() + e.event.size() +
              e.argumentsJson.size() + (e.ordering ? e.ordering->jobId.size() : 0));
  out.append(kMagic);
  putString(out, e.origin);
  out.push_back(kindByte(e.target.kind));
  putString(out, e.target.name);
  putString(out, e.event);
  out.push_back(e.ordering ? 1 : 0);
  if (e.ordering) {
    putString(out, e.ordering->jobId);
    putI64(out, e.ordering->sequence);
  }
  putString(out, e.argumentsJson);
  return out;
}

std::optional<Envelope> decodeEnvelope(std::string_view in) {
  if (in.substr(0, kMagic.size()) != kMagic) return std::nullopt;
  in.remove_prefix(kMagic.size());
  Envelope e;
  if (!getString(in, e.origin) || in.empty()) return std::nullopt;
  switch (in[0]) {
    case 'A': e.target.kind = TargetKind::All; break;
    case 'G': e.target.kind = TargetKind::Group; break;
    case 'C': e.target.kind = TargetKind::Connection; break;
    default: return std::nullopt;
  }
  in.remove_prefix(1);
  if (!getString(in, e.target.name) || !getString(in, e.event) || in.empty()) return std::nullopt;
  const char hasOrdering = in[0];
  in.remove_prefix(1);
  if (hasOrdering != 0 && hasOrdering != 1) return std::nullopt;
  if (hasOrdering == 1) {
    Ordering o;
    if (!getString(in, o.jobId) || !getI64(in, o.sequence)) return std::nullopt;
    e.ordering = std::move(o);
  }
  if (!getString(in, e.argumentsJson) || !in.empty()) return std::nullopt;
  return e;
}

}  // namespace herald::backplane
