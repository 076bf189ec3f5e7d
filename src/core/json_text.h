#pragma once
// The one JSON writer of the server. Every JSON text Herald sends or stores (REST bodies,
// hub messages, job events, stored metadata and history) is written here, so numbers
// look the same everywhere: in the shortest decimal form that reads back as the same
// double, as browsers (Number.prototype.toString) and .NET print them (0.17, 24.38, 29.6,
// 30, 1e+21, 1e-7), never Boost.JSON's 1.7E-1. The direct appenders serve the hot shapes
// (a progress event, a job resource) that would otherwise be built as a boost::json
// object only to be serialised at once; they print byte for byte what toJson prints for
// the same values (unit-tested).
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace herald::core {

// `s` as a JSON string literal, quotes included. Escapes '"', '\\' and control
// characters (\b \t \n \f \r, else \u00xx), passes every other byte through.
void appendJsonString(std::string& out, std::string_view s);

void appendJsonInteger(std::string& out, std::int64_t value);

// A double in JavaScript's Number-to-string form: the shortest digits that round-trip
// (std::to_chars), plain notation for magnitudes in [1e-6, 1e21) and d.ddde+N outside it
// (30.0 is 30, 0.17 is 0.17, 1e21 is 1e+21, 1e-7 is 1e-7). -0 is 0. NaN and the
// infinities have no JSON form: they are written as null (as JSON.stringify does); parsed
// input never holds them (bodies with out-of-range numbers are refused).
void appendJsonDouble(std::string& out, double value);

// The same (kept as the name callers use for a double that is often integral).
void appendJsonNumber(std::string& out, double value);

// `v` as compact JSON text (no spaces), numbers as above.
void appendJson(std::string& out, const boost::json::value& v);
void appendJson(std::string& out, const boost::json::object& v);
void appendJson(std::string& out, const boost::json::array& v);
std::string toJson(const boost::json::value& v);
std::string toJson(const boost::json::object& v);
std::string toJson(const boost::json::array& v);

}  // namespace herald::core
