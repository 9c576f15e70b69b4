// Prometheus text exposition format 0.0.4, rendered from plain snapshots.
//
//   # HELP <name> <help, with \ and newline escaped>
//   # TYPE <name> counter|gauge|histogram
//   <name>{<label>="<value, with \ " and newline escaped>",...} <value>
//   <name>_bucket{...,le="<bound>"} <cumulative count>      (histograms, le="+Inf" last)
//   <name>_sum{...} <sum>
//   <name>_count{...} <count>
//
// Floats use the shortest representation that round-trips (as Go's strconv 'g', -1 does),
// and "+Inf", "-Inf", "NaN". Families are rendered in the order given.
// Thread-safety: all functions are pure.
#pragma once

#include <string>
#include <string_view>

#include "absl/types/span.h"
#include "metrics/snapshot.h"

namespace hearth::metrics {

// The Content-Type of RenderText's output.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Appends `value` formatted per the spec: shortest round-trip, e.g. 1, 0.25, 1e+06, 1.5e-07,
// +Inf, -Inf, NaN.
void AppendDouble(double value, std::string* out);
std::string FormatDouble(double value);

// Escapes `\` as `\\` and newline as `\n` (HELP text).
void AppendEscapedHelp(std::string_view help, std::string* out);
// Escapes `\` as `\\`, `"` as `\"` and newline as `\n` (label values).
void AppendEscapedLabelValue(std::string_view value, std::string* out);

// Renders the families in the order given. A family with no series still gets its HELP and
// TYPE lines.
std::string RenderText(absl::Span<const FamilySnapshot> families);

}  // namespace hearth::metrics
