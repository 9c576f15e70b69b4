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
//     token), iteration_tokens; counters prompt_tokens_total, generation_tokens_total. These
//     are engine-wide (no protocol label: a step batches all protocols together).
//   output callbacks of the three APIs (engine thread, at each sample's finish, through
//     ObserveFinished with the request's protocol): the per-request histograms and
//     request_success_total, each with a `protocol` label (grpc, openai, ollama).
//   server threads (failure observers): request_failure_total{code,protocol} per failed
//     generation call (one branch at the end of a call; nothing per streamed message), and
//     unauthenticated_requests_total{protocol} per call refused for its API key.
//   scrape time (callbacks reading Engine::Stats()): num_requests_{running,waiting,swapped},
//     kv_cache_usage_perc, num_preemptions_total, prefix_cache_{queries,hits}_total.
//
// Ownership: the Registry must outlive this object; this object must outlive the Engine whose
// hooks it serves and the service it observes. After AttachEngine, the
// Engine must outlive every scrape of the Registry (stop the metrics endpoint first).
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
#include "server/request/protocol.h"

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

  // Hooks for Engine::Create; they call ObserveStep on the engine thread.
  engine::EngineHooks Hooks();
  // Registers the scrape-time metrics reading `engine`'s stats and the build_info metric.
  // Call once. REQUIRES: `engine` outlives every later scrape of the registry.
  absl::Status AttachEngine(const engine::Engine* engine, const ServingInfo& info);

  void ObserveStep(const engine::StepMetrics& step);
  // A sample's final output: success (by finish reason) and the per-request histograms. Samples
  // that failed (non-OK status) are counted by the server as request_failure_total instead.
  void ObserveFinished(const engine::RequestOutput& final_output, Protocol protocol);
  // One failed request with gRPC status `code` (not OK; codes outside the enum are ignored).
  void CountFailure(grpc::StatusCode code, Protocol protocol);
  // One call refused for a missing or wrong API key.
  void CountUnauthenticated(Protocol protocol);

 private:
  static constexpr int kNumCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED
  ServingMetrics(metrics::Registry* registry, std::string model_name)
      : registry_(registry), model_name_(std::move(model_name)) {}
  absl::Status Init();

  metrics::Registry* const registry_;
  const std::string model_name_;
  // The request-level series of one protocol.
  struct PerProtocol {
    metrics::Histogram* e2e = nullptr;
    metrics::Histogram* queue_time = nullptr;
    metrics::Histogram* prefill_time = nullptr;
    metrics::Histogram* decode_time = nullptr;
    metrics::Histogram* prompt_tokens = nullptr;
    metrics::Histogram* generation_tokens = nullptr;
    // By FinishReason (stop, length, abort, constraint_unmet set; the others stay null).
    std::array<metrics::Counter*, kNumFinishReasons> success{};
    std::array<metrics::Counter*, kNumCodes> failure{};  // by grpc::StatusCode; [0] unused
    metrics::Counter* unauthenticated = nullptr;
  };
  // Cached series (one label set each: model_name [, reason/code] [, protocol]).
  metrics::Histogram* ttft_ = nullptr;
  metrics::Histogram* itl_ = nullptr;
  metrics::Histogram* iteration_tokens_ = nullptr;
  metrics::Counter* prompt_tokens_ = nullptr;
  metrics::Counter* generation_tokens_ = nullptr;
  std::array<PerProtocol, kNumProtocols> protocols_{};
};

}  // namespace hearth::server
