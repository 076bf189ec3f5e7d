#pragma once
// Identifier generation. Connection ids and tokens follow ASP.NET Core: 16 random
// bytes, base64url without padding (22 chars), so they are URL-safe as the JS client
// appends them to URLs without encoding. Job and video ids are RFC 4122 v4 UUIDs. Every
// byte comes from OpenSSL's CSPRNG (RAND_bytes): these are secrets a client holds.
//
// Thread safety: all functions are safe to call from any thread.
#include <string>

namespace herald::core {

std::string newConnectionId();
std::string newUuid();
// 128 random bits as 32 lowercase hex digits: a job lease's token.
std::string newLeaseToken();
std::string base64UrlEncode(const unsigned char* data, std::size_t size);

}  // namespace herald::core
