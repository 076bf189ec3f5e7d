#pragma once
// Text that goes into a log line. Values a client chose (user and video ids, job types,
// stages, paths, hub method names, error texts that quote them) may hold newlines and
// terminal escapes: written as they are, "x\n2026-01-01T00:00:00.000 info [1] job ..."
// forges a log line, and ESC [ ... rewrites what an operator's terminal shows. Every
// log line's message goes through appendLogText (the log formatters in server/ call
// it), so no log site can forget.
#include <string>
#include <string_view>

namespace herald::core {

// Appends `s` with every control character escaped: \n \r \t, other C0 bytes and DEL as
// \xHH, C1 controls (U+0080..U+009F, which some terminals obey like ESC [) as \u00HH, and
// a backslash as \\ so that an escape in the output always means an escaped byte.
// Everything else (printable ASCII, other UTF-8) is copied as is.
void appendLogText(std::string& out, std::string_view s);

// `s` escaped as appendLogText does.
std::string logText(std::string_view s);

}  // namespace herald::core
