// Typed reads of JSON request fields (nlohmann::json) with errors that name the field:
// "temperature: must be a number, got string". A null value counts as absent (OpenAI clients
// send "stop": null for unset fields).
//
// Thread-safety: plain functions over values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hearth::server::http {

using Json = nlohmann::ordered_json;  // keeps key order (JSON-schema property order matters)

inline constexpr int kMaxJsonDepth = 64;

// Parses a request body that must be a JSON object nested at most kMaxJsonDepth deep.
// InvalidArgument: "request body: ...".
absl::StatusOr<Json> ParseJsonObject(absl::string_view body);

// Compact JSON text; invalid UTF-8 in strings becomes U+FFFD instead of throwing.
std::string DumpJson(const Json& value);

// "a number", "a string", ... for messages.
const char* JsonTypeName(const Json& value);

// The value at `key` of `object` (null / missing: nullptr).
const Json* Find(const Json& object, absl::string_view key);

// Each: nullopt when missing or null; InvalidArgument naming `name` when of the wrong type.
absl::StatusOr<std::optional<double>> GetNumber(const Json& object, absl::string_view key,
                                                absl::string_view name);
// Integers, also accepting a float with an integral value (2.0).
absl::StatusOr<std::optional<int64_t>> GetInt(const Json& object, absl::string_view key,
                                              absl::string_view name);
absl::StatusOr<std::optional<uint64_t>> GetUint(const Json& object, absl::string_view key,
                                                absl::string_view name);
absl::StatusOr<std::optional<bool>> GetBool(const Json& object, absl::string_view key,
                                            absl::string_view name);
absl::StatusOr<std::optional<std::string>> GetString(const Json& object, absl::string_view key,
                                                     absl::string_view name);
// A string or a list of strings (OpenAI `stop`); empty when missing.
absl::StatusOr<std::vector<std::string>> GetStringOrList(const Json& object, absl::string_view key,
                                                         absl::string_view name);
// A list of integers; nullopt when missing.
absl::StatusOr<std::optional<std::vector<int64_t>>> GetIntList(const Json& object,
                                                               absl::string_view key,
                                                               absl::string_view name);

// The value as an integer list when it is one (["[1,2]" -> {1, 2}]); InvalidArgument naming
// `name` with the index of the first non-integer element.
absl::StatusOr<std::vector<int64_t>> ToIntList(const Json& value, absl::string_view name);

}  // namespace hearth::server::http
