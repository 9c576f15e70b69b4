#include "metrics/registry.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "metrics/names.h"

namespace hearth::metrics {
namespace {

// One series whose value comes from a callback at scrape time.
class CallbackCollector final : public Collector {
 public:
  CallbackCollector(std::string name, std::string help, MetricType type, Labels labels,
                    std::function<double()> fn)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        labels_(std::move(labels)),
        fn_(std::move(fn)) {}

  void Collect(std::vector<FamilySnapshot>* out) const override {
    FamilySnapshot& family = out->emplace_back();
    family.name = name_;
    family.help = help_;
    family.type = type_;
    family.samples.push_back(Sample{labels_, fn_()});
  }

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const Labels labels_;
  const std::function<double()> fn_;
};

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

}  // namespace

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
  auto family = std::make_unique<CounterFamily>(std::move(name), std::move(help),
                                                MetricType::kCounter, std::move(label_names),
                                                [] { return std::make_unique<Counter>(); });
  CounterFamily* raw = family.get();
  collectors_.push_back(std::move(family));
  return raw;
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(std::string name, std::string help,
                                                std::vector<std::string> label_names) {
  RETURN_IF_ERROR(ValidateMetricName(name));
  RETURN_IF_ERROR(ValidateLabelNames(label_names));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Claim(name, {}));
  auto family = std::make_unique<GaugeFamily>(std::move(name), std::move(help), MetricType::kGauge,
                                              std::move(label_names),
                                              [] { return std::make_unique<Gauge>(); });
  GaugeFamily* raw = family.get();
  collectors_.push_back(std::move(family));
  return raw;
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(std::string name, std::string help,
                                                        std::vector<std::string> label_names,
                                                        std::vector<double> upper_bounds) {
  RETURN_IF_ERROR(ValidateMetricName(name));
  RETURN_IF_ERROR(ValidateLabelNames(label_names, "le"));
  RETURN_IF_ERROR(ValidateUpperBounds(name, &upper_bounds));
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Claim(name, {"_bucket", "_sum", "_count"}));
  auto bounds = std::make_shared<const std::vector<double>>(std::move(upper_bounds));
  auto family = std::make_unique<HistogramFamily>(
      std::move(name), std::move(help), MetricType::kHistogram, std::move(label_names),
      [bounds] { return std::make_unique<Histogram>(bounds); });
  HistogramFamily* raw = family.get();
  collectors_.push_back(std::move(family));
  return raw;
}

absl::Status Registry::AddCallback(MetricType type, std::string name, std::string help,
                                   Labels labels, std::function<double()> fn) {
  RETURN_IF_ERROR(ValidateMetricName(name));
  RETURN_IF_ERROR(ValidateConstLabels(labels));
  if (fn == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("metric ", name, ": null callback"));
  }
  absl::MutexLock lock(&mu_);
  RETURN_IF_ERROR(Claim(name, {}));
  collectors_.push_back(std::make_unique<CallbackCollector>(std::move(name), std::move(help), type,
                                                            std::move(labels), std::move(fn)));
  return absl::OkStatus();
}

absl::Status Registry::AddCallbackGauge(std::string name, std::string help, Labels labels,
                                        std::function<double()> fn) {
  return AddCallback(MetricType::kGauge, std::move(name), std::move(help), std::move(labels),
                     std::move(fn));
}

absl::Status Registry::AddCallbackCounter(std::string name, std::string help, Labels labels,
                                          std::function<double()> fn) {
  RETURN_IF_ERROR(ValidateCounterName(name));
  return AddCallback(MetricType::kCounter, std::move(name), std::move(help), std::move(labels),
                     std::move(fn));
}

absl::Status Registry::AddInfo(std::string name, std::string help, Labels labels) {
  if (!absl::EndsWith(name, "_info")) {
    return absl::InvalidArgumentError(
        absl::StrCat("info metric name \"", name, "\" must end in \"_info\""));
  }
  return AddCallback(MetricType::kGauge, std::move(name), std::move(help), std::move(labels),
                     [] { return 1.0; });
}

std::vector<FamilySnapshot> Registry::Collect() const {
  std::vector<FamilySnapshot> families;
  {
    absl::MutexLock lock(&mu_);
    families.reserve(collectors_.size());
    for (const auto& collector : collectors_) collector->Collect(&families);
  }
  std::stable_sort(
      families.begin(), families.end(),
      [](const FamilySnapshot& a, const FamilySnapshot& b) { return a.name < b.name; });
  return families;
}

std::string Registry::Render() const { return RenderText(Collect()); }

}  // namespace hearth::metrics
