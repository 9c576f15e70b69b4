// ServingMetrics: the hearth:* Prometheus metrics of `hearth serve` (modeled on vLLM's vllm:*),
// each with a model_name label. Names, labels and semantics: docs/METRICS.md.
//
//   metrics::Registry registry;
//   ASSIGN_OR_RETURN(auto serving, ServingMetrics::Create(&registry, "smollm2"));
//   ASSIGN_OR_RETURN(auto engine, Engine::Create(model, config, serving->Hooks()));
//   RETURN_IF_ERROR(serving->AttachEngine(engine.get(), info));
//   service->SetGenerateFailureObserver(
//       [s = serving.get()](grpc::StatusCode code) { s->CountFailure(code); });
//
// Where each value comes from:
//   engine thread (Hooks, observed as it happens, with cached series pointers, no lookups):
//     histograms time_to_first_token_seconds, inter_token_latency_seconds (one Observe per
//     token), iteration_tokens, and at each sample's finish e2e_request_latency_seconds,
//     request_{queue,prefill,decode}_time_seconds, request_{prompt,generation}_tokens;
//     counters prompt_tokens_total, generation_tokens_total, request_success_total.
//   gRPC threads (HearthService's failure observer): request_failure_total{code} per failed
//     Generate call (one branch at the end of a call; nothing per streamed message).
//   scrape time (callbacks reading Engine::Stats()): num_requests_{running,waiting,swapped},
//     kv_cache_usage_perc, num_preemptions_total, prefix_cache_{queries,hits}_total.
//
// Ownership: the Registry must outlive this object; this object must outlive the Engine whose
// hooks it serves and the service it observes. After AttachEngine, the
// Engine must outlive every scrape of the Registry (stop the HTTP exposer first).
// Thread-safety: thread-safe after Create; the observe methods take no lock of their own
// (a histogram observation takes its series' uncontended mutex inside prometheus-cpp).
#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "metrics/registry.h"

namespace hearth::server {

// The metric name prefix (vLLM uses "vllm:"; colons are legal in the text format).
inline constexpr char kMetricPrefix[] = "hearth:";

// Static facts for hearth:build_info.
struct ServingInfo {
  std::string version;
  std::string backend;       // "cpu", "cuda"
  std::string architecture;  // "llama"
  std::string quant_type;    // dominant weight type, "Q4_1"
  bool enable_prefix_caching = false;
  std::string kv_cache_dtype;  // resolved K/V element type, "f16" or "f32"
};

class ServingMetrics {
 public:
  // Registers every family on `registry` and creates the series of `model_name` (failure codes
  // and finish reasons up front, so they scrape as 0 before the first event).
  static absl::StatusOr<std::unique_ptr<ServingMetrics>> Create(metrics::Registry* registry,
                                                                std::string model_name);
  ServingMetrics(const ServingMetrics&) = delete;
  ServingMetrics& operator=(const ServingMetrics&) = delete;

  // Hooks for Engine::Create; they call ObserveStep / ObserveFinished on the engine thread.
  engine::EngineHooks Hooks();
  // Registers the scrape-time metrics reading `engine`'s stats and the build_info metric.
  // Call once. REQUIRES: `engine` outlives every later scrape of the registry.
  absl::Status AttachEngine(const engine::Engine* engine, const ServingInfo& info);

  void ObserveStep(const engine::StepMetrics& step);
  // A sample's final output: success (by finish reason) and the per-request histograms. Samples
  // that failed (non-OK status) are counted by the server as request_failure_total instead.
  void ObserveFinished(const engine::RequestOutput& final_output);
  // One failed request with gRPC status `code` (not OK; codes outside the enum are ignored).
  void CountFailure(grpc::StatusCode code);

 private:
  static constexpr int kNumCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED
  ServingMetrics(metrics::Registry* registry, std::string model_name)
      : registry_(registry), model_name_(std::move(model_name)) {}
  absl::Status Init();

  metrics::Registry* const registry_;
  const std::string model_name_;
  // Cached series (one label set each: model_name [, reason/code]).
  metrics::Histogram* ttft_ = nullptr;
  metrics::Histogram* itl_ = nullptr;
  metrics::Histogram* e2e_ = nullptr;
  metrics::Histogram* queue_time_ = nullptr;
  metrics::Histogram* prefill_time_ = nullptr;
  metrics::Histogram* decode_time_ = nullptr;
  metrics::Histogram* prompt_tokens_hist_ = nullptr;
  metrics::Histogram* generation_tokens_hist_ = nullptr;
  metrics::Histogram* iteration_tokens_ = nullptr;
  metrics::Counter* prompt_tokens_ = nullptr;
  metrics::Counter* generation_tokens_ = nullptr;
  std::array<metrics::Counter*, 3> success_{};  // by sampler::FinishReason: stop, length, abort
  std::array<metrics::Counter*, kNumCodes> failure_{};  // by grpc::StatusCode; [0] unused
};

}  // namespace hearth::server
