#pragma once
// The handshake: `{"protocol":"json","version":1}` + 0x1E in, `{}` + 0x1E or
// `{"error":"..."}` + 0x1E out. Always JSON text, even for MessagePack.
#include <cstddef>
#include <string>
#include <string_view>

namespace herald::protocol {

struct HandshakeRequest {
  std::string protocol;
  int version = 0;
};

enum class HandshakeStatus { Incomplete, Ok, Error };

struct HandshakeParse {
  HandshakeStatus status = HandshakeStatus::Incomplete;
  HandshakeRequest request;
  std::size_t consumed = 0;  // bytes up to and including the separator
  std::string error;         // text for the client when status is Error
};

// Parses the handshake request at the front of `input`. Bytes after the separator
// belong to the hub protocol and are left to the caller.
HandshakeParse parseHandshakeRequest(std::string_view input);

std::string handshakeSuccess();
std::string handshakeError(std::string_view message);

}  // namespace herald::protocol
