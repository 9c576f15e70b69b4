#include "metrics/family.h"

#include <exception>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hearth::metrics {

template <typename T>
Family<T>::Family(prometheus::Family<T>* family, std::string name,
                  std::vector<std::string> label_names, std::vector<double> upper_bounds)
    : family_(family),
      name_(std::move(name)),
      label_names_(std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

template <typename T>
absl::StatusOr<T*> Family<T>::WithLabels(const std::vector<std::string>& label_values) {
  if (label_values.size() != label_names_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("metric ", name_, " takes ", label_names_.size(),
                                                   " label values, got ", label_values.size()));
  }
  prometheus::Labels labels;
  for (size_t i = 0; i < label_values.size(); ++i) labels[label_names_[i]] = label_values[i];
  try {
    if constexpr (std::is_same_v<T, Histogram>) {
      return &family_->Add(labels, upper_bounds_);
    } else {
      return &family_->Add(labels);
    }
  } catch (const std::exception& e) {  // prometheus-cpp reports bad input by throwing
    return absl::InvalidArgumentError(absl::StrCat("metric ", name_, ": ", e.what()));
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

}  // namespace hearth::metrics
