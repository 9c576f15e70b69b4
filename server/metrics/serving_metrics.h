// ServingMetrics: the hearth:* Prometheus metrics of `hearth serve` (modeled on vLLM's vllm:*),
// each with a model_name label (one set of series per configured model, loaded or not). Names,
// labels and semantics: docs/METRICS.md.
//
//   metrics::Registry registry;
//   ASSIGN_OR_RETURN(auto serving, ServingMetrics::Create(&registry, {"fast", "analyst"}));
//   ASSIGN_OR_RETURN(auto engine, Engine::Create(model, config, serving->Hooks("fast")));
//   serving->SetModelSource([&](const auto& visit) { registry->ForEachModel(visit); }, info);
//   service->SetGenerateFailureObserver(
//       [s = serving.get()](grpc::StatusCode code) { s->CountFailure(code, Protocol::kGrpc); });
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
//   scrape time (Refresh(), before each render, reading each loaded engine's Stats() through the
//     model source): num_requests_{running,waiting,swapped}, kv_cache_usage_perc (0 while not
//     loaded), num_preemptions_total, prefix_cache_{queries,hits}_total (counted on across
//     reloads), model_loaded, build_info (once loaded).
//   the model registry's manager thread: model_loads_total, model_load_failures_total,
//     model_unloads_total{reason}, model_load_duration_seconds.
//
// Ownership: the Registry must outlive this object; this object must outlive the Engines whose
// hooks it serves and the services it observes. The model source must stay callable for every
// Refresh (stop the metrics endpoint before destroying it).
// Thread-safety: thread-safe after Create; the observe methods take no lock of their own
// (a histogram observation takes its series' uncontended mutex inside prometheus-cpp).
#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "metrics/registry.h"
#include "server/request/protocol.h"
#include "server/request/served_model.h"

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
  // Registers every family on `registry` and creates the series of each of `model_names` (the
  // first is the default: unknown names count there), failure codes and finish reasons up
  // front, so they scrape as 0 before the first event. REQUIRES: names non-empty, unique.
  static absl::StatusOr<std::unique_ptr<ServingMetrics>> Create(
      metrics::Registry* registry, std::vector<std::string> model_names);
  ServingMetrics(const ServingMetrics&) = delete;
  ServingMetrics& operator=(const ServingMetrics&) = delete;

  // Hooks for Engine::Create of `model`; they call ObserveStep on the engine thread.
  engine::EngineHooks Hooks(const std::string& model);

  // Visits every configured model with its ServedEngine (null while not loaded); the pointer is
  // only valid during the visit.
  using ModelVisitor = std::function<void(const std::string& model, const ServedEngine* served)>;
  using ModelSource = std::function<void(const ModelVisitor& visit)>;
  // The scrape-time metrics read the models through `source` (see above). Call once, before
  // the first Refresh. `info`: the server-wide part of build_info.
  void SetModelSource(ModelSource source, const ServingInfo& info);
  // Updates the scrape-time series; the endpoint calls it before each render.
  void Refresh();

  void ObserveStep(const std::string& model, const engine::StepMetrics& step);
  // A sample's final output: success (by finish reason) and the per-request histograms. Samples
  // that failed (non-OK status) are counted by the server as request_failure_total instead.
  void ObserveFinished(const engine::RequestOutput& final_output, Protocol protocol,
                       const std::string& model = "");
  // One failed request with gRPC status `code` (not OK; codes outside the enum are ignored).
  // `model`: the configured name ("" or unknown: the default model).
  void CountFailure(grpc::StatusCode code, Protocol protocol, const std::string& model = "");
  // One call refused for a missing or wrong API key (counted for the default model).
  void CountUnauthenticated(Protocol protocol);
  // The model registry's events (server/registry/model_registry.h).
  void ObserveLoad(const std::string& model, double seconds);
  void CountLoadFailure(const std::string& model);
  void CountUnload(const std::string& model, const std::string& reason);

 private:
  static constexpr int kNumCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED
  explicit ServingMetrics(metrics::Registry* registry) : registry_(registry) {}
  absl::Status Init(const std::vector<std::string>& model_names);
  struct ModelSeries;
  ModelSeries& Series(const std::string& model);

  metrics::Registry* const registry_;
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
  // Cached series of one model (one label set each: model_name [, reason/code] [, protocol]).
  struct ModelSeries {
    std::string name;
    metrics::Histogram* ttft = nullptr;
    metrics::Histogram* itl = nullptr;
    metrics::Histogram* iteration_tokens = nullptr;
    metrics::Counter* prompt_tokens = nullptr;
    metrics::Counter* generation_tokens = nullptr;
    std::array<PerProtocol, kNumProtocols> protocols{};
    // Scrape time.
    metrics::Gauge* running = nullptr;
    metrics::Gauge* waiting = nullptr;
    metrics::Gauge* swapped = nullptr;
    metrics::Gauge* kv_usage = nullptr;
    metrics::Gauge* loaded = nullptr;
    metrics::Gauge* info = nullptr;  // the build_info series of the loaded engine
    metrics::Counter* preemptions = nullptr;
    metrics::Counter* prefix_queries = nullptr;
    metrics::Counter* prefix_hits = nullptr;
    // The engine's cumulative values at the last Refresh (a reload restarts them at 0).
    const engine::Engine* last_engine = nullptr;
    double last_preemptions = 0, last_prefix_queries = 0, last_prefix_hits = 0;
    // Registry events.
    metrics::Counter* loads = nullptr;
    metrics::Counter* load_failures = nullptr;
    metrics::Histogram* load_duration = nullptr;
  };
  std::vector<std::unique_ptr<ModelSeries>> models_;  // fixed after Create; [0] the default
  metrics::GaugeFamily* build_info_ = nullptr;
  metrics::CounterFamily* unloads_ = nullptr;
  ServingInfo info_;
  ModelSource source_;
  absl::Mutex refresh_mu_;  // one Refresh at a time (its delta bookkeeping)
};

}  // namespace hearth::server
