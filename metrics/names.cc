#include "metrics/names.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hearth::metrics {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

absl::Status ValidateMetricName(absl::string_view name) {
  bool ok = !name.empty();
  for (size_t i = 0; ok && i < name.size(); ++i) {
    const char c = name[i];
    ok = IsAlpha(c) || c == '_' || c == ':' || (i > 0 && IsDigit(c));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid metric name \"", name, "\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelName(absl::string_view name) {
  bool ok = !name.empty();
  for (size_t i = 0; ok && i < name.size(); ++i) {
    const char c = name[i];
    ok = IsAlpha(c) || c == '_' || (i > 0 && IsDigit(c));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid label name \"", name, "\": must match [a-zA-Z_][a-zA-Z0-9_]*"));
  }
  if (absl::StartsWith(name, "__")) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid label name \"", name, "\": names starting with __ are reserved"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelNames(const std::vector<std::string>& names, absl::string_view reserved) {
  std::set<absl::string_view> seen;
  for (const std::string& name : names) {
    if (absl::Status s = ValidateLabelName(name); !s.ok()) return s;
    if (!reserved.empty() && name == reserved) {
      return absl::InvalidArgumentError(
          absl::StrCat("label name \"", name, "\" is reserved for this metric type"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate label name \"", name, "\""));
    }
  }
  return absl::OkStatus();
}

}  // namespace hearth::metrics
