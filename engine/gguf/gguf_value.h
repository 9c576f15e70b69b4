// GGUF metadata values: the on-disk value types, a parsed value, and checked conversions.
//
// Thread-safety: plain values; the conversion functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace hearth::engine {

// GGUF metadata value types, numbered as on disk.
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view GgufValueTypeName(GgufValueType type);

struct GgufValue;

// A homogeneous array. Nested arrays are allowed by the format and supported.
struct GgufArray {
  GgufValueType element_type = GgufValueType::kUint8;
  std::vector<GgufValue> elements;
};

struct GgufValue {
  GgufValueType type = GgufValueType::kUint8;
  // Integers are widened (signed to int64, unsigned to uint64), floats to double; `type`
  // keeps the on-disk type.
  std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> value;
};

// Checked conversions of one value (InvalidArgument saying what the value is when it does not
// convert). Integers of any width convert to each other when the value fits; GetFloat-style
// conversion accepts every numeric type (integers become the nearest double).
absl::StatusOr<uint64_t> ValueAsUint(const GgufValue& value);
absl::StatusOr<int64_t> ValueAsInt(const GgufValue& value);
absl::StatusOr<double> ValueAsFloat(const GgufValue& value);

// A short human-readable rendering ("UINT32 42", "STRING \"llama\"", "ARRAY[STRING; 49152]")
// for error messages.
std::string DescribeValue(const GgufValue& value);

}  // namespace hearth::engine
