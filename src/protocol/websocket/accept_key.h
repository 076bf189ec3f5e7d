#pragma once
// The opening handshake's key exchange (RFC 6455 §4.2.1-4.2.2): the client's
// Sec-WebSocket-Key and the server's Sec-WebSocket-Accept.
#include <string>
#include <string_view>

namespace herald::protocol::websocket {

// base64(SHA-1(clientKey + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string secWebSocketAccept(std::string_view clientKey);

// A Sec-WebSocket-Key value (already trimmed of surrounding whitespace): 24 base64
// characters that decode to 16 bytes, i.e. 22 alphabet characters and "==". The unused
// low bits of the last character are not required to be zero, as in most servers: the
// key is only ever hashed, never decoded.
bool validClientKey(std::string_view key);

}  // namespace herald::protocol::websocket
