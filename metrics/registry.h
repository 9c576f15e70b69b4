// Registry: owns every metric family of a process (or of a test) and renders them all in the
// Prometheus text format 0.0.4. Built on prometheus-cpp (Debian's prometheus-cpp-dev, core):
// its registry, families, counters, gauges, histograms and text serializer; this layer adds
// errors as values, positional label values, scrape-time callback metrics, and the checks below.
//
//   Registry registry;
//   ASSIGN_OR_RETURN(CounterFamily* tokens, registry.AddCounter(
//       "hearth_generation_tokens_total", "Generated tokens.", {"model"}));
//   ASSIGN_OR_RETURN(Counter* smol, tokens->WithLabels({"smollm2"}));
//   smol->Increment(3);
//   std::string text = registry.Render();   // Content-Type: kTextContentType
//
// Names: every family name and every series name it produces (a histogram "x" claims x,
// x_bucket, x_sum and x_count) is unique in the registry; AlreadyExists otherwise. Counter names
// must end in "_total", info names in "_info". Output is sorted by family name, and series by
// their labels (label pairs sorted by name).
//
// Thread-safety: thread-safe. Families and series live as long as the Registry; pointers handed
// out stay valid until it is destroyed. Callbacks run on the scraping thread, under the
// registry's lock: they must be thread-safe, quick, and must not call into this Registry.
#pragma once

#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "metrics/family.h"
#include "metrics/text_format.h"

namespace hearth::metrics {

// Label pairs of a callback metric, in any order: {{"model", "smollm"}, {"route", "generate"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Families with per-series state. `label_names` may be empty (one unlabeled series, from
  // WithLabels({})). InvalidArgument on a bad name, AlreadyExists on a clash.
  absl::StatusOr<CounterFamily*> AddCounter(std::string name, std::string help,
                                            std::vector<std::string> label_names = {});
  absl::StatusOr<GaugeFamily*> AddGauge(std::string name, std::string help,
                                        std::vector<std::string> label_names = {});
  // `upper_bounds`: strictly increasing, finite except an optional trailing +Inf (dropped; the
  // +Inf bucket is always present). May be empty (only +Inf). "le" is not a valid label name.
  absl::StatusOr<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> upper_bounds);

  // A single series whose value is read at scrape time by calling `fn` (fixed `labels`).
  absl::Status AddCallbackGauge(std::string name, std::string help, Labels labels,
                                std::function<double()> fn);
  // As above, for a monotonic value owned elsewhere (e.g. process_cpu_seconds_total).
  absl::Status AddCallbackCounter(std::string name, std::string help, Labels labels,
                                  std::function<double()> fn);
  // Info-style metric: a gauge named "*_info" with value 1 carrying `labels`
  // (e.g. hearth_build_info{version="0.1.0",backend="cpu"} 1).
  absl::Status AddInfo(std::string name, std::string help, Labels labels);

  // Every family, sorted by name, each family's series sorted by labels.
  std::vector<prometheus::MetricFamily> Collect() const;
  // Collect() in the text format; serve with Content-Type kTextContentType.
  std::string Render() const;

 private:
  class CallbackMetric;  // registry.cc

  // Validates `name` and claims it (and `suffixes` appended to it) for the registry.
  absl::Status Claim(const std::string& name, const std::vector<const char*>& suffixes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddCallback(prometheus::MetricType type, std::string name, std::string help,
                           Labels labels, std::function<double()> fn);

  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> claimed_names_ ABSL_GUARDED_BY(mu_);
  prometheus::Registry registry_;  // thread-safe itself
  std::vector<std::unique_ptr<CounterFamily>> counters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<GaugeFamily>> gauges_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<HistogramFamily>> histograms_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<CallbackMetric>> callbacks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hearth::metrics
