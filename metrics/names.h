// Validation of Prometheus metric and label names.
//   metric name: [a-zA-Z_:][a-zA-Z0-9_:]*  (prometheus-cpp's CheckMetricName)
//   label name:  [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved; CheckLabelName)
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hearth::metrics {

// InvalidArgument naming the offending name when it does not match the metric-name regex.
absl::Status ValidateMetricName(absl::string_view name);
// InvalidArgument when `name` does not match the label-name regex or is reserved ("__" prefix).
absl::Status ValidateLabelName(absl::string_view name);
// Each name valid, no duplicates, and none equal to `reserved` when it is non-empty ("le" for
// histograms).
absl::Status ValidateLabelNames(const std::vector<std::string>& names,
                                absl::string_view reserved = {});

}  // namespace hearth::metrics
