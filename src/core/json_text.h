#pragma once
// Appending JSON text straight to a string, for the hot shapes (a progress event, a job
// resource) that would otherwise be built as a boost::json object only to be serialised
// at once. The output is byte for byte what boost::json::serialize gives for the same
// values, so the two ways of producing a shape cannot be told apart (unit-tested).
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::core {

// `s` as a JSON string literal, quotes included. Escapes '"', '\\' and control
// characters (\b \t \n \f \r, else \u00xx), passes every other byte through.
void appendJsonString(std::string& out, std::string_view s);

void appendJsonInteger(std::string& out, std::int64_t value);

// A double as Boost.JSON prints it (e.g. 1.25E1); appendJsonNumber is the usual choice.
void appendJsonDouble(std::string& out, double value);

// A number that prints as an integer when it is one (50, not 5E1), else as a double.
void appendJsonNumber(std::string& out, double value);

}  // namespace herald::core
