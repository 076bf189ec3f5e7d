#pragma once
// Logging:Format=json: every log line is one JSON object, for log shippers (Loki, ELK):
// {"timestamp":"2024-05-01T12:00:00.123Z","level":"info","logger":"herald","thread":42,
//  "message":"..."}. The timestamp is UTC; the message is escaped as a JSON string.
namespace herald::server {

// Installs the JSON formatter on spdlog's default logger (call before other threads log).
void useJsonLogFormat();

}  // namespace herald::server
