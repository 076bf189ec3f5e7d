#pragma once
// Logging:Format=text (the default): "2024-05-01T12:00:00.123 info [42] message", one
// line per record. The message is escaped by core::appendLogText, so a client-chosen
// value with a newline or a terminal escape in it cannot forge a line or drive the
// operator's terminal.
namespace herald::server {

// Installs the text formatter on spdlog's default logger (call before other threads log).
void useTextLogFormat();

}  // namespace herald::server
