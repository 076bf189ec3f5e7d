#pragma once
// Strict base64url (RFC 4648 section 5) as JWS compact serialisation uses it (RFC 7515
// section 2): the URL-safe alphabet, no padding, no whitespace, and the unused low bits
// of the last character zero, so every byte string has exactly one accepted encoding.
// Pure: no I/O, no allocation beyond the result.
#include <optional>
#include <string>
#include <string_view>

namespace herald::auth {

// The decoded bytes, or nullopt for anything that is not canonical unpadded base64url.
std::optional<std::string> decodeBase64Url(std::string_view text);

// Unpadded base64url of `bytes` (tests and the fuzz target's round trip).
std::string encodeBase64Url(std::string_view bytes);

}  // namespace herald::auth
