// Registry: owns every metric family of a process (or of a test) and renders them all in the
// Prometheus text format 0.0.4.
//
//   Registry registry;
//   ASSIGN_OR_RETURN(CounterFamily* tokens, registry.AddCounter(
//       "hearth_generation_tokens_total", "Generated tokens.", {"model"}));
//   ASSIGN_OR_RETURN(Counter* smol, tokens->WithLabels({"smollm2"}));
//   smol->Inc(3);
//   std::string text = registry.Render();   // Content-Type: kTextContentType
//
// Names: every family name and every series name it produces (a histogram "x" claims x,
// x_bucket, x_sum and x_count) is unique in the registry; AlreadyExists otherwise. Counter names
// must end in "_total", info names in "_info". Output is sorted by family name.
//
// Thread-safety: thread-safe. Families and series live as long as the Registry; pointers handed
// out stay valid until it is destroyed. Callbacks run on the scraping thread, under the
// registry's lock: they must be thread-safe, quick, and must not call into this Registry.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "metrics/family.h"
#include "metrics/snapshot.h"
#include "metrics/text_format.h"

namespace hearth::metrics {

class Registry {
 public:
  Registry() = default;
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

  // Every family, sorted by name.
  std::vector<FamilySnapshot> Collect() const;
  // Collect() in the text format; serve with Content-Type kTextContentType.
  std::string Render() const;

 private:
  // Validates `name` and claims it (and `suffixes` appended to it) for the registry.
  absl::Status Claim(const std::string& name, const std::vector<const char*>& suffixes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AddCallback(MetricType type, std::string name, std::string help, Labels labels,
                           std::function<double()> fn);

  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> claimed_names_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Collector>> collectors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hearth::metrics
