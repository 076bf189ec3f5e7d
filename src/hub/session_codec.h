#pragma once
// The byte form of a mirrored session (hub/session_mirror.h), independent of where it is
// stored: a frame as one string (sequence, job, job sequence, then the frame's bytes
// untouched), and the session record as field/value pairs. Pure functions; a malformed
// input decodes to nullopt, never to a partial value.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hub/session_mirror.h"

namespace herald::hub {

// "<sequence>:<jobSequence>:<jobId length>:<jobId><frame bytes>" (decimal numbers).
std::string encodeMirroredFrame(const MirroredFrame& frame);
std::optional<MirroredFrame> decodeMirroredFrame(std::string_view text);

using RecordFields = std::vector<std::pair<std::string, std::string>>;

// The fields of a new record: id, proto, uid, roles, auth, exp, apikey, owner, epoch,
// total, and one "g:<group>" per group. Jobs marks are "j:<jobId>" fields (jobMarkField).
RecordFields encodeSessionRecord(const SessionState& state, const std::string& owner,
                                 std::int64_t epoch);
inline std::string groupField(const std::string& group) { return "g:" + group; }
inline std::string jobMarkField(const std::string& jobId) { return "j:" + jobId; }

// The state a record describes (frames not included) and its epoch; nullopt when a
// required field is missing or malformed.
struct DecodedRecord {
  SessionState state;
  std::int64_t epoch = 0;
};
std::optional<DecodedRecord> decodeSessionRecord(const RecordFields& fields);

}  // namespace herald::hub
