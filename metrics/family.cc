#include "metrics/family.h"

#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hearth::metrics {

template <typename T>
Family<T>::Family(std::string name, std::string help, MetricType type,
                  std::vector<std::string> label_names, std::function<std::unique_ptr<T>()> make)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      make_(std::move(make)) {}

template <typename T>
absl::StatusOr<T*> Family<T>::WithLabels(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("metric ", name_, " takes ", label_names_.size(),
                                                   " label values, got ", label_values.size()));
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<T>& series = series_[label_values];
  if (series == nullptr) series = make_();
  return series.get();
}

template <typename T>
void Family<T>::Collect(std::vector<FamilySnapshot>* out) const {
  FamilySnapshot& family = out->emplace_back();
  family.name = name_;
  family.help = help_;
  family.type = type_;
  absl::MutexLock lock(&mu_);
  for (const auto& [values, series] : series_) {
    Labels labels;
    labels.reserve(values.size());
    for (size_t i = 0; i < values.size(); ++i) labels.emplace_back(label_names_[i], values[i]);
    if constexpr (std::is_same_v<T, Histogram>) {
      HistogramSample h = series->Snapshot();
      h.labels = std::move(labels);
      family.histograms.push_back(std::move(h));
    } else {
      family.samples.push_back(Sample{std::move(labels), series->Value()});
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

}  // namespace hearth::metrics
