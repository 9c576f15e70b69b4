#include "metrics/names.h"

#include <prometheus/check_names.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace hearth::metrics {

absl::Status ValidateMetricName(absl::string_view name) {
  if (!prometheus::CheckMetricName(std::string(name))) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid metric name \"", name, "\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelName(absl::string_view name) {
  // prometheus-cpp also rejects the reserved "__" prefix.
  if (!prometheus::CheckLabelName(std::string(name))) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid label name \"", name,
                     "\": must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __ (reserved)"));
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
