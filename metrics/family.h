// Metric families: one name, help text and label-name list; one series (Counter, Gauge or
// Histogram) per distinct tuple of label values.
//
//   Family<Counter>* requests = ...;                        // from Registry::AddCounter
//   Counter* ok = *requests->WithLabels({"generate", "ok"}); // once, at setup; keep the pointer
//   ok->Inc();                                               // hot path: lock-free
//
// Thread-safety: thread-safe. WithLabels takes the family's mutex (setup path); the returned
// pointer stays valid, and refers to the same series, for the family's (the Registry's) lifetime.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "metrics/metric.h"
#include "metrics/snapshot.h"

namespace hearth::metrics {

// Anything the Registry scrapes: appends zero or more families to `out`.
// Implementations must be thread-safe and must not call back into the Registry.
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void Collect(std::vector<FamilySnapshot>* out) const = 0;
};

template <typename T>
class Family final : public Collector {
 public:
  // Built by Registry, which has validated every argument. `make` creates one series.
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make);

  // The series for `label_values` (same order and count as label_names()), created on first
  // use. Values may be any UTF-8 text (escaped on output). InvalidArgument on a count mismatch.
  absl::StatusOr<T*> WithLabels(const std::vector<std::string>& label_values);

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // One FamilySnapshot; series ordered by their label values.
  void Collect(std::vector<FamilySnapshot>* out) const override;

 private:
  const std::string name_;
  const std::string help_;
  const MetricType type_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_ ABSL_GUARDED_BY(mu_);
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

}  // namespace hearth::metrics
