#include "metrics/registry.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "metrics/names.h"

namespace hearth::metrics {
namespace {

absl::Status ValidateUpperBounds(const std::string& name, std::vector<double>* bounds) {
  if (!bounds->empty() && std::isinf(bounds->back()) && bounds->back() > 0) bounds->pop_back();
  for (size_t i = 0; i < bounds->size(); ++i) {
    const double b = (*bounds)[i];
    if (!std::isfinite(b)) {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram ", name, ": bucket bound ", i, " is not finite"));
    }
    if (i > 0 && !((*bounds)[i - 1] < b)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram ", name, ": bucket bounds must be strictly increasing (bound ", i, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCounterName(const std::string& name) {
  if (!absl::EndsWith(name, "_total")) {
    return absl::InvalidArgumentError(
        absl::StrCat("counter name \"", name, "\" must end in \"_total\""));
  }
  return absl::OkStatus();
}

absl::Status ValidateConstLabels(const Labels& labels) {
  std::vector<std::string> names;
  names.reserve(labels.size());
  for (const auto& [label_name, value] : labels) names.push_back(label_name);
  return ValidateLabelNames(names);
}

// prometheus-cpp 1.0.1 writes HELP text verbatim: escape it as the text format requires
// (backslash and newline), so a help string cannot break the exposition.
std::string EscapeHelp(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

// One series whose value comes from a callback at scrape time.
class Registry::CallbackMetric {
 public:
  CallbackMetric(std::string name, std::string help, prometheus::MetricType type, Labels labels,
                 std::function<double()> fn)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        labels_(std::move(labels)),
        fn_(std::move(fn)) {}

  prometheus::MetricFamily Collect() const {
    prometheus::MetricFamily family;
    family.name = name_;
    family.help = help_;
    family.type = type_;
    prometheus::ClientMetric& m = family.metric.emplace_back();
    for (const auto& [name, value] : labels_) m.label.push_back({name, value});
    std::sort(m.label.begin(), m.label.end());
    const double v = fn_();
    if (type_ == prometheus::MetricType::Counter) {
      m.counter.value = v;
    } else {
      m.gauge.value = v;
    }
    return family;
  }

 private:
  const std::string name_;
  const std::string help_;
  const prometheus::MetricType type_;
  const Labels labels_;
  const std::function<double()> fn_;
};

Registry::Registry() = default;
Registry::~Registry() = default;

absl::Status Registry::Claim(const std::string& name, const std::vector<const char*>& suffixes) {
  RETURN_IF_ERROR(ValidateMetricName(name));
  std::vector<std::string> names = {name};
  for (const char* suffix : suffixes) names.push_back(absl::StrCat(name, suffix));
  for (const std::string& n : names) {
    if (claimed_names_.contains(n)) {
      return absl::AlreadyExistsError(
          absl::StrCat("metric name \"", n, "\" is already registered (while adding ", name, ")"));
    }
  }
  claimed_names_.insert(names.begin(), names.end());
  return absl::OkStatus();
}

absl::StatusOr<CounterFamily*> Registry::AddCounter(std::string name, std::string help,
                                                    std::vector<std::string> label_names) {
  RETURN_IF_ERROR(ValidateMetricName(name));
  RETURN_IF_ERROR(ValidateCounterName(name));
  RETURN_IF_ERROR(ValidateLabelNames(label_names));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Claim(name, {}));
  // prometheus-cpp's counter builder appends no suffix in 1.0.1: the name is used as given.
  auto& family = prometheus::BuildCounter().Name(name).Help(EscapeHelp(help)).Register(registry_);
  counters_.push_back(
      std::make_unique<CounterFamily>(&family, std::move(name), std::move(label_names)));
  return counters_.back().get();
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(std::string name, std::string help,
                                                std::vector<std::string> label_names) {
  RETURN_IF_ERROR(ValidateMetricName(name));
  RETURN_IF_ERROR(ValidateLabelNames(label_names));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Claim(name, {}));
  auto& family = prometheus::BuildGauge().Name(name).Help(EscapeHelp(help)).Register(registry_);
  gauges_.push_back(
      std::make_unique<GaugeFamily>(&family, std::move(name), std::move(label_names)));
  return gauges_.back().get();
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(std::string name, std::string help,
                                                        std::vector<std::string> label_names,
                                                        std::vector<double> upper_bounds) {
  RETURN_IF_ERROR(ValidateMetricName(name));
  RETURN_IF_ERROR(ValidateLabelNames(label_names, "le"));
  RETURN_IF_ERROR(ValidateUpperBounds(name, &upper_bounds));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Claim(name, {"_bucket", "_sum", "_count"}));
  auto& family = prometheus::BuildHistogram().Name(name).Help(EscapeHelp(help)).Register(registry_);
  histograms_.push_back(std::make_unique<HistogramFamily>(
      &family, std::move(name), std::move(label_names), std::move(upper_bounds)));
  return histograms_.back().get();
}

absl::Status Registry::AddCallback(prometheus::MetricType type, std::string name, std::string help,
                                   Labels labels, std::function<double()> fn) {
  RETURN_IF_ERROR(ValidateMetricName(name));
  RETURN_IF_ERROR(ValidateConstLabels(labels));
  if (fn == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("metric ", name, ": null callback"));
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Claim(name, {}));
  callbacks_.push_back(std::make_unique<CallbackMetric>(std::move(name), EscapeHelp(help), type,
                                                        std::move(labels), std::move(fn)));
  return absl::OkStatus();
}

absl::Status Registry::AddCallbackGauge(std::string name, std::string help, Labels labels,
                                        std::function<double()> fn) {
  return AddCallback(prometheus::MetricType::Gauge, std::move(name), std::move(help),
                     std::move(labels), std::move(fn));
}

absl::Status Registry::AddCallbackCounter(std::string name, std::string help, Labels labels,
                                          std::function<double()> fn) {
  RETURN_IF_ERROR(ValidateCounterName(name));
  return AddCallback(prometheus::MetricType::Counter, std::move(name), std::move(help),
                     std::move(labels), std::move(fn));
}

absl::Status Registry::AddInfo(std::string name, std::string help, Labels labels) {
  if (!absl::EndsWith(name, "_info")) {
    return absl::InvalidArgumentError(
        absl::StrCat("info metric name \"", name, "\" must end in \"_info\""));
  }
  return AddCallback(prometheus::MetricType::Gauge, std::move(name), std::move(help),
                     std::move(labels), [] { return 1.0; });
}

std::vector<prometheus::MetricFamily> Registry::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  {
    absl::MutexLock lock(&mu_);
    families = registry_.Collect();
    for (const auto& callback : callbacks_) families.push_back(callback->Collect());
  }
  std::sort(families.begin(), families.end(),
            [](const prometheus::MetricFamily& a, const prometheus::MetricFamily& b) {
              return a.name < b.name;
            });
  for (prometheus::MetricFamily& f : families) {
    std::sort(f.metric.begin(), f.metric.end(),
              [](const prometheus::ClientMetric& a, const prometheus::ClientMetric& b) {
                return a.label < b.label;
              });
  }
  return families;
}

std::string Registry::Render() const { return prometheus::TextSerializer().Serialize(Collect()); }

}  // namespace hearth::metrics
