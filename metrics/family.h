// Metric families: one name, help text and label-name list; one series (Counter, Gauge or
// Histogram) per distinct tuple of label values. A thin layer over prometheus::Family that
// takes label values positionally and reports errors as values.
//
//   CounterFamily* requests = ...;                            // from Registry::AddCounter
//   Counter* ok = *requests->WithLabels({"generate", "ok"});  // once, at setup; keep the pointer
//   ok->Increment();                                          // hot path
//
// Thread-safety: thread-safe. WithLabels takes the family's mutex (setup path); the returned
// pointer stays valid, and refers to the same series, for the family's (the Registry's) lifetime.
#pragma once

#include <prometheus/family.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metrics/metric.h"

namespace hearth::metrics {

template <typename T>
class Family {
 public:
  // Built by Registry, which has validated every argument. `upper_bounds` only for histograms.
  Family(prometheus::Family<T>* family, std::string name, std::vector<std::string> label_names,
         std::vector<double> upper_bounds = {});

  // The series for `label_values` (same order and count as label_names()), created on first
  // use. Values may be any UTF-8 text (escaped on output). InvalidArgument on a count mismatch.
  absl::StatusOr<T*> WithLabels(const std::vector<std::string>& label_values);

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

 private:
  prometheus::Family<T>* const family_;  // owned by the Registry's prometheus::Registry
  const std::string name_;
  const std::vector<std::string> label_names_;
  const std::vector<double> upper_bounds_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

}  // namespace hearth::metrics
