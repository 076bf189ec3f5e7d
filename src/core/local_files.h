#pragma once
// Confines local media files to the folders an operator named (AppSettings:LocalFileRoots).
// The check is made on the resolved path (symlinks and ".." followed, as realpath does),
// so a link inside a root that points outside it is refused. Does file-system lookups:
// call it off the I/O threads' hot path (it is a handful of stat calls).
#include <optional>
#include <string>
#include <vector>

namespace herald::core {

// The resolved form of `path` if it names an existing regular file inside one of `roots`
// (an empty list: anywhere, as in development); nullopt with `error` otherwise.
std::optional<std::string> confineToRoots(const std::string& path,
                                          const std::vector<std::string>& roots,
                                          std::string& error);

// Whether `path`, taken literally (".." collapsed, links not followed), lies inside one
// of `roots` (an empty list: yes). No file-system calls: a first check where blocking is
// unwelcome; confineToRoots is the one that counts.
bool lexicallyWithinRoots(const std::string& path, const std::vector<std::string>& roots);

}  // namespace herald::core
