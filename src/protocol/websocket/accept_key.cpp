#include "protocol/websocket/accept_key.h"

#include <cstdint>

#include <openssl/sha.h>

namespace herald::protocol::websocket {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Standard base64 with '=' padding (RFC 4648 §4).
std::string base64(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  for (std::size_t i = 0; i < size; i += 3) {
    std::uint32_t chunk = std::uint32_t{data[i]} << 16;
    if (i + 1 < size) chunk |= std::uint32_t{data[i + 1]} << 8;
    if (i + 2 < size) chunk |= data[i + 2];
    out.push_back(kAlphabet[(chunk >> 18) & 63]);
    out.push_back(kAlphabet[(chunk >> 12) & 63]);
    out.push_back(i + 1 < size ? kAlphabet[(chunk >> 6) & 63] : '=');
    out.push_back(i + 2 < size ? kAlphabet[chunk & 63] : '=');
  }
  return out;
}

}  // namespace

std::string secWebSocketAccept(std::string_view clientKey) {
  std::string input;
  input.reserve(clientKey.size() + kGuid.size());
  input.append(clientKey).append(kGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return base64(digest, sizeof digest);
}

bool validClientKey(std::string_view key) {
  // 16 bytes = 128 bits = 21 full characters + 2 bits in a 22nd, then "==".
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  for (std::size_t i = 0; i < 22; ++i) {
    if (kAlphabet.find(key[i]) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace herald::protocol::websocket
