#pragma once
// How a job's progress history records metadata: once per change, as a patch when that is
// smaller, instead of a copy of the whole metadata in every row (119 KB of requests once
// made 906 MB of history that way).
//
// Each history row carries a kind and a text:
//   Same  (0): metadata as in the row before (text empty). Most rows: reports that move
//              progress only.
//   Full  (1): the whole metadata (JSON object). The first row of a job, and a change
//              that removes a key or whose patch would not be smaller.
//   Patch (2): the keys set by this change (JSON object), applied over the row before,
//              as a report's metadata is merged into the job's.
// Reading a row's metadata starts from the last Full row at or before it and applies the
// Patch rows after that. A store writes Full instead of Patch once the patches since the
// last Full would add up to more than the whole metadata, so that walk reads at most about
// twice the metadata's size however many reports changed it, and the history holds at
// most about twice what clients sent.
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace herald::model {

enum class MetadataKind : int { Same = 0, Full = 1, Patch = 2 };

struct MetadataRecord {
  MetadataKind kind = MetadataKind::Same;
  std::string text;  // Full: the metadata; Patch: the changed keys; Same: empty
};

// What a history row written after a change from `before` to `after` records.
// `fullText` is `after` serialised (the store has it for the job row already);
// `patchBytesSinceFull` is the size of the Patch rows since the job's last Full row.
MetadataRecord recordMetadata(const boost::json::object& before, const boost::json::object& after,
                              const std::string& fullText, std::size_t patchBytesSinceFull);

// Applies a row's record to `state` (the metadata as of the row before). A Full or Patch
// text that does not parse as an object counts as {} (a corrupt row must not make the
// whole history unreadable).
void applyMetadata(boost::json::object& state, MetadataKind kind, std::string_view text);

// The kind stored as an integer; an unknown value reads as Full.
MetadataKind metadataKindFrom(long long value);

}  // namespace herald::model
