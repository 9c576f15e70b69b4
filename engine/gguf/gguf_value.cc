#include "engine/gguf/gguf_value.h"

#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/gguf/string_compat.h"

namespace hearth::engine {

using gguf_internal::ToAbsl;

std::string_view GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
      return "UINT8";
    case GgufValueType::kInt8:
      return "INT8";
    case GgufValueType::kUint16:
      return "UINT16";
    case GgufValueType::kInt16:
      return "INT16";
    case GgufValueType::kUint32:
      return "UINT32";
    case GgufValueType::kInt32:
      return "INT32";
    case GgufValueType::kFloat32:
      return "FLOAT32";
    case GgufValueType::kBool:
      return "BOOL";
    case GgufValueType::kString:
      return "STRING";
    case GgufValueType::kArray:
      return "ARRAY";
    case GgufValueType::kUint64:
      return "UINT64";
    case GgufValueType::kInt64:
      return "INT64";
    case GgufValueType::kFloat64:
      return "FLOAT64";
  }
  return "UNKNOWN";
}

std::string DescribeValue(const GgufValue& value) {
  const absl::string_view name = ToAbsl(GgufValueTypeName(value.type));
  if (const auto* u = std::get_if<uint64_t>(&value.value)) return absl::StrCat(name, " ", *u);
  if (const auto* i = std::get_if<int64_t>(&value.value)) return absl::StrCat(name, " ", *i);
  if (const auto* d = std::get_if<double>(&value.value)) return absl::StrCat(name, " ", *d);
  if (const auto* b = std::get_if<bool>(&value.value)) {
    return absl::StrCat(name, *b ? " true" : " false");
  }
  if (const auto* s = std::get_if<std::string>(&value.value)) {
    constexpr size_t kMax = 40;
    return absl::StrFormat("%s \"%s%s\"", name,
                           absl::CEscape(absl::string_view(*s).substr(0, kMax)),
                           s->size() > kMax ? "..." : "");
  }
  const auto& array = std::get<GgufArray>(value.value);
  return absl::StrCat("ARRAY[", ToAbsl(GgufValueTypeName(array.element_type)), "; ",
                      array.elements.size(), "]");
}

absl::StatusOr<uint64_t> ValueAsUint(const GgufValue& value) {
  if (const auto* u = std::get_if<uint64_t>(&value.value)) return *u;
  if (const auto* i = std::get_if<int64_t>(&value.value); i != nullptr && *i >= 0) {
    return static_cast<uint64_t>(*i);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(DescribeValue(value), " is not a non-negative integer"));
}

absl::StatusOr<int64_t> ValueAsInt(const GgufValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value.value)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&value.value);
      u != nullptr && *u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(*u);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(DescribeValue(value), " is not an integer that fits int64"));
}

absl::StatusOr<double> ValueAsFloat(const GgufValue& value) {
  if (const auto* d = std::get_if<double>(&value.value)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&value.value)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&value.value)) return static_cast<double>(*i);
  return absl::InvalidArgumentError(absl::StrCat(DescribeValue(value), " is not a number"));
}

}  // namespace hearth::engine
