#include "metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

namespace hearth::metrics {

const char* MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void AppendDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[64];
  // No format argument: the shortest representation that round-trips (fixed or scientific,
  // whichever is shorter), which is what Go's strconv.FormatFloat(v, 'g', -1, 64) gives.
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) {  // Cannot happen with 64 bytes; keep the output well-formed anyway.
    out->append("NaN");
    return;
  }
  out->append(buf, end);
}

std::string FormatDouble(double value) {
  std::string s;
  AppendDouble(value, &s);
  return s;
}

namespace {

void AppendUint(uint64_t value, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  (void)ec;
  out->append(buf, end);
}

// Appends `{a="x",b="y"` plus an optional extra label (le), then `}`; nothing when empty.
void AppendLabels(const Labels& labels, std::string_view extra_name, std::string_view extra_value,
                  std::string* out) {
  if (labels.empty() && extra_name.empty()) return;
  out->push_back('{');
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out->push_back(',');
    first = false;
    out->append(name);
    out->append("=\"");
    AppendEscapedLabelValue(value, out);
    out->push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first) out->push_back(',');
    out->append(extra_name);
    out->append("=\"");
    out->append(extra_value);
    out->push_back('"');
  }
  out->push_back('}');
}

void AppendSeriesName(std::string_view name, std::string_view suffix, std::string* out) {
  out->append(name);
  out->append(suffix);
}

void AppendHistogram(const std::string& name, const HistogramSample& h, std::string* out) {
  std::string le;
  for (size_t i = 0; i <= h.upper_bounds.size(); ++i) {
    le.clear();
    if (i < h.upper_bounds.size()) {
      AppendDouble(h.upper_bounds[i], &le);
    } else {
      le = "+Inf";
    }
    AppendSeriesName(name, "_bucket", out);
    AppendLabels(h.labels, "le", le, out);
    out->push_back(' ');
    AppendUint(i < h.cumulative_counts.size() ? h.cumulative_counts[i] : h.count, out);
    out->push_back('\n');
  }
  AppendSeriesName(name, "_sum", out);
  AppendLabels(h.labels, {}, {}, out);
  out->push_back(' ');
  AppendDouble(h.sum, out);
  out->push_back('\n');
  AppendSeriesName(name, "_count", out);
  AppendLabels(h.labels, {}, {}, out);
  out->push_back(' ');
  AppendUint(h.count, out);
  out->push_back('\n');
}

}  // namespace

void AppendEscapedHelp(std::string_view help, std::string* out) {
  for (char c : help) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

void AppendEscapedLabelValue(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"') {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

std::string RenderText(absl::Span<const FamilySnapshot> families) {
  std::string out;
  out.reserve(families.size() * 128);
  for (const FamilySnapshot& family : families) {
    out.append("# HELP ");
    out.append(family.name);
    out.push_back(' ');
    AppendEscapedHelp(family.help, &out);
    out.append("\n# TYPE ");
    out.append(family.name);
    out.push_back(' ');
    out.append(MetricTypeName(family.type));
    out.push_back('\n');
    for (const Sample& sample : family.samples) {
      out.append(family.name);
      AppendLabels(sample.labels, {}, {}, &out);
      out.push_back(' ');
      AppendDouble(sample.value, &out);
      out.push_back('\n');
    }
    for (const HistogramSample& h : family.histograms) AppendHistogram(family.name, h, &out);
  }
  return out;
}

}  // namespace hearth::metrics
