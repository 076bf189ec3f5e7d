#pragma once
// The byte form of a backplane envelope, for backplanes that cross a process boundary.
// A small, versioned, length-prefixed layout (not JSON: the arguments are JSON text
// already and would be escaped a second time):
//
//   "HB2" origin-length(u32 LE) origin kind(1 byte: A|G|C) name-length(u32 LE) name
//   event-length(u32 LE) event has-ordering(1 byte: 0|1) [job-length(u32 LE) job sequence(i64 LE)]
//   arguments-length(u32 LE) arguments
//
// decode() never trusts the bytes: every length is checked against what is left.
// Pure: no I/O.
#include <optional>
#include <string>
#include <string_view>

#include "backplane/backplane.h"

namespace herald::backplane {

std::string encodeEnvelope(const Envelope& envelope);
// nullopt when the bytes are not a whole, well-formed envelope of this version.
std::optional<Envelope> decodeEnvelope(std::string_view bytes);

}  // namespace herald::backplane
