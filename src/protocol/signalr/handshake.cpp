#include "protocol/signalr/handshake.h"

#include <cmath>

#include <boost/json/parse.hpp>
#include "core/json_text.h"
#include <boost/json/value.hpp>

#include "protocol/signalr/json_protocol.h"

namespace herald::protocol {

HandshakeParse parseHandshakeRequest(std::string_view input) {
  HandshakeParse result;
  auto sep = input.find(kRecordSeparator);
  if (sep == std::string_view::npos) return result;  // Incomplete
  result.consumed = sep + 1;
  result.status = HandshakeStatus::Error;

  boost::system::error_code ec;
  auto value = boost::json::parse(input.substr(0, sep), ec);
  if (ec || !value.is_object()) {
    result.error = "An unexpected error occurred during connection handshake.";
    return result;
  }
  const auto& obj = value.as_object();
  auto* protocol = obj.if_contains("protocol");
  auto* version = obj.if_contains("version");
  if (!protocol || !protocol->is_string() || !version) {
    result.error = "An unexpected error occurred during connection handshake.";
    return result;
  }
  // Clients send an integer; the C++ client may produce 1.0. Accept an integral double.
  // Versions far outside any real one are kept as "unsupported" without overflowing int.
  constexpr double kLimit = 1 << 20;
  auto clamp = [&](double v) {
    return static_cast<int>(v < -kLimit ? -kLimit : v > kLimit ? kLimit : v);
  };
  if (version->is_int64()) {
    result.request.version = clamp(static_cast<double>(version->as_int64()));
  } else if (version->is_uint64()) {
    result.request.version = clamp(static_cast<double>(version->as_uint64()));
  } else if (version->is_double() && std::isfinite(version->as_double()) &&
             version->as_double() == std::floor(version->as_double())) {
    result.request.version = clamp(version->as_double());
  } else {
    result.error = "An unexpected error occurred during connection handshake.";
    return result;
  }
  result.request.protocol = std::string(protocol->as_string());
  result.status = HandshakeStatus::Ok;
  return result;
}

std::string handshakeSuccess() { return std::string("{}") + kRecordSeparator; }

std::string handshakeError(std::string_view message) {
  boost::json::object obj;
  obj["error"] = message;
  return core::toJson(obj) + kRecordSeparator;
}

}  // namespace herald::protocol
