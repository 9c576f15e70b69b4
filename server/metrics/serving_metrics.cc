#include "server/metrics/serving_metrics.h"

#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "metrics/buckets.h"

namespace hearth::server {
namespace {

// gRPC's canonical code names, indexed by grpc::StatusCode.
constexpr std::array<const char*, 17> kCodeNames = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

std::string Name(absl::string_view suffix) { return absl::StrCat(kMetricPrefix, suffix); }

}  // namespace

absl::StatusOr<std::unique_ptr<ServingMetrics>> ServingMetrics::Create(metrics::Registry* registry,
                                                                       std::string model_name) {
  if (registry == nullptr) return absl::InvalidArgumentError("ServingMetrics: null registry");
  std::unique_ptr<ServingMetrics> m(new ServingMetrics(registry, std::move(model_name)));
  RETURN_IF_ERROR(m->Init());
  return m;
}

absl::Status ServingMetrics::Init() {
  metrics::Registry& r = *registry_;
  const std::vector<std::string> model = {"model_name"};
  const std::vector<std::string> labels = {model_name_};

  struct HistogramSpec {
    metrics::Histogram** series;                     // engine-wide, or nullptr
    metrics::Histogram* PerProtocol::*per_protocol;  // per protocol, or nullptr
    const char* name;
    const char* help;
    std::vector<double> buckets;
  };
  const std::vector<double> latency = metrics::RequestLatencyBuckets();
  const std::vector<HistogramSpec> histograms = {
      {&ttft_, nullptr, "time_to_first_token_seconds",
       "Seconds from a request's arrival to its first generated token (per sample).",
       metrics::TimeToFirstTokenBuckets()},
      {&itl_, nullptr, "inter_token_latency_seconds",
       "Seconds between consecutive generated tokens of a sample (every token after the first).",
       metrics::InterTokenLatencyBuckets()},
      {nullptr, &PerProtocol::e2e, "e2e_request_latency_seconds",
       "Seconds from a request's arrival to its finish (per finished sample).", latency},
      {nullptr, &PerProtocol::queue_time, "request_queue_time_seconds",
       "Seconds a finished sample waited from arrival until first scheduled.", latency},
      {nullptr, &PerProtocol::prefill_time, "request_prefill_time_seconds",
       "Seconds from first scheduled to first token of a finished sample.", latency},
      {nullptr, &PerProtocol::decode_time, "request_decode_time_seconds",
       "Seconds from first token to last token of a finished sample.", latency},
      {nullptr, &PerProtocol::prompt_tokens, "request_prompt_tokens",
       "Prompt length of finished samples.", metrics::OneTwoFiveBuckets(1 << 20)},
      {nullptr, &PerProtocol::generation_tokens, "request_generation_tokens",
       "Generated tokens of finished samples.", metrics::OneTwoFiveBuckets(1 << 20)},
      {&iteration_tokens_, nullptr, "iteration_tokens",
       "Tokens run through the model per engine step (prefill + decode).",
       metrics::OneTwoFiveBuckets(1 << 16)},
  };
  // The protocols whose requests generate (the metrics port only refuses or serves scrapes).
  constexpr Protocol kGenerating[] = {Protocol::kGrpc, Protocol::kOpenAi, Protocol::kOllama};
  for (const HistogramSpec& h : histograms) {
    if (h.series != nullptr) {
      ASSIGN_OR_RETURN(metrics::HistogramFamily * family,
                       r.AddHistogram(Name(h.name), h.help, model, h.buckets));
      ASSIGN_OR_RETURN(*h.series, family->WithLabels(labels));
      continue;
    }
    ASSIGN_OR_RETURN(metrics::HistogramFamily * family,
                     r.AddHistogram(Name(h.name), h.help, {"model_name", "protocol"}, h.buckets));
    for (Protocol p : kGenerating) {
      ASSIGN_OR_RETURN(protocols_[static_cast<int>(p)].*h.per_protocol,
                       family->WithLabels({model_name_, std::string(ProtocolName(p))}));
    }
  }

  ASSIGN_OR_RETURN(
      metrics::CounterFamily * prompt,
      r.AddCounter(Name("prompt_tokens_total"),
                   "Prompt tokens of samples that produced their first token.", model));
  ASSIGN_OR_RETURN(prompt_tokens_, prompt->WithLabels(labels));
  ASSIGN_OR_RETURN(metrics::CounterFamily * generation,
                   r.AddCounter(Name("generation_tokens_total"), "Generated tokens.", model));
  ASSIGN_OR_RETURN(generation_tokens_, generation->WithLabels(labels));

  ASSIGN_OR_RETURN(
      metrics::CounterFamily * success,
      r.AddCounter(Name("request_success_total"),
                   "Finished samples by finish reason (stop, length, abort, constraint_unmet).",
                   {"model_name", "finished_reason", "protocol"}));
  ASSIGN_OR_RETURN(
      metrics::CounterFamily * failure,
      r.AddCounter(Name("request_failure_total"),
                   "Generation calls that ended with an error, by gRPC status code name.",
                   {"model_name", "code", "protocol"}));
  ASSIGN_OR_RETURN(
      metrics::CounterFamily * unauthenticated,
      r.AddCounter(Name("unauthenticated_requests_total"),
                   "Calls refused for a missing or wrong API key.", {"model_name", "protocol"}));
  for (int pi = 0; pi < kNumProtocols; ++pi) {
    const Protocol p = static_cast<Protocol>(pi);
    const std::string protocol(ProtocolName(p));
    PerProtocol& series = protocols_[pi];
    ASSIGN_OR_RETURN(series.unauthenticated, unauthenticated->WithLabels({model_name_, protocol}));
    if (p == Protocol::kMetrics) continue;
    for (sampler::FinishReason reason :
         {sampler::FinishReason::kStop, sampler::FinishReason::kLength,
          sampler::FinishReason::kAbort, sampler::FinishReason::kConstraintUnmet}) {
      ASSIGN_OR_RETURN(
          series.success[static_cast<int>(reason)],
          success->WithLabels(
              {model_name_, std::string(sampler::FinishReasonName(reason)), protocol}));
    }
    for (int code = 1; code < kNumCodes; ++code) {
      ASSIGN_OR_RETURN(series.failure[code],
                       failure->WithLabels({model_name_, kCodeNames[code], protocol}));
    }
  }
  return absl::OkStatus();
}

engine::EngineHooks ServingMetrics::Hooks() {
  engine::EngineHooks hooks;
  hooks.on_step_metrics = [this](const engine::StepMetrics& step) { ObserveStep(step); };
  return hooks;
}

void ServingMetrics::ObserveStep(const engine::StepMetrics& step) {
  iteration_tokens_->Observe(step.num_batched_tokens);
  generation_tokens_->Increment(step.num_generation_tokens);
  if (step.num_prompt_tokens > 0) prompt_tokens_->Increment(step.num_prompt_tokens);
  for (double s : step.time_to_first_token) ttft_->Observe(s);
  for (double s : step.inter_token_latency) itl_->Observe(s);
}

void ServingMetrics::ObserveFinished(const engine::RequestOutput& out, Protocol protocol) {
  if (!out.status.ok() || !out.finish.has_value() || protocol == Protocol::kMetrics) return;
  const PerProtocol& s = protocols_[static_cast<int>(protocol)];
  const engine::Usage& u = out.usage;
  if (metrics::Counter* c = s.success[static_cast<int>(out.finish->reason())]) c->Increment();
  s.e2e->Observe(u.e2e_seconds);
  s.queue_time->Observe(u.queue_seconds);
  s.prompt_tokens->Observe(u.prompt_tokens);
  s.generation_tokens->Observe(u.completion_tokens);
  if (u.completion_tokens > 0) {
    s.prefill_time->Observe(u.prefill_seconds);
    s.decode_time->Observe(u.decode_seconds);
  }
}

void ServingMetrics::CountFailure(grpc::StatusCode code, Protocol protocol) {
  const int i = static_cast<int>(code);
  if (i > 0 && i < kNumCodes && protocol != Protocol::kMetrics) {
    protocols_[static_cast<int>(protocol)].failure[i]->Increment();
  }
}

void ServingMetrics::CountUnauthenticated(Protocol protocol) {
  protocols_[static_cast<int>(protocol)].unauthenticated->Increment();
}

absl::Status ServingMetrics::AttachEngine(const engine::Engine* engine, const ServingInfo& info) {
  metrics::Registry& r = *registry_;
  const metrics::Labels labels = {{"model_name", model_name_}};
  using Stats = engine::EngineStats;
  struct CallbackSpec {
    bool counter;
    const char* name;
    const char* help;
    double (*read)(const Stats&);
  };
  const CallbackSpec specs[] = {
      {false, "num_requests_running", "Samples in the running batch.",
       [](const Stats& s) -> double { return s.scheduler.num_running; }},
      {false, "num_requests_waiting", "Samples waiting to be scheduled.",
       [](const Stats& s) -> double { return s.scheduler.num_waiting; }},
      {false, "num_requests_swapped", "Samples preempted to host swap space.",
       [](const Stats& s) -> double { return s.scheduler.num_swapped; }},
      {false, "kv_cache_usage_perc", "Fraction of device KV blocks in use, 0 to 1.",
       [](const Stats& s) -> double { return s.scheduler.kv_usage; }},
      {true, "num_preemptions_total", "Preemptions (recompute and swap).",
       [](const Stats& s) -> double {
         return static_cast<double>(s.scheduler.num_preemptions_recompute +
                                    s.scheduler.num_preemptions_swap);
       }},
      {true, "prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
       [](const Stats& s) -> double {
         return static_cast<double>(s.scheduler.prefix_cache_query_tokens);
       }},
      {true, "prefix_cache_hits_total", "Prompt tokens found in the prefix cache.",
       [](const Stats& s) -> double {
         return static_cast<double>(s.scheduler.prefix_cache_hit_tokens);
       }},
  };
  for (const CallbackSpec& spec : specs) {
    auto fn = [engine, read = spec.read] { return read(engine->Stats()); };
    if (spec.counter) {
      RETURN_IF_ERROR(r.AddCallbackCounter(Name(spec.name), spec.help, labels, std::move(fn)));
    } else {
      RETURN_IF_ERROR(r.AddCallbackGauge(Name(spec.name), spec.help, labels, std::move(fn)));
    }
  }
  const engine::EngineStats stats = engine->Stats();
  return r.AddInfo(Name("build_info"),
                   "Build, model and KV cache configuration (value 1; facts in the labels).",
                   {{"model_name", model_name_},
                    {"version", info.version},
                    {"backend", info.backend},
                    {"architecture", info.architecture},
                    {"quant_type", info.quant_type},
                    {"block_size", absl::StrCat(stats.block_size)},
                    // vLLM's label name (device KV blocks on any backend).
                    {"num_gpu_blocks", absl::StrCat(stats.num_device_blocks)},
                    {"num_swap_blocks", absl::StrCat(stats.num_host_blocks)},
                    {"max_model_len", absl::StrCat(engine->max_model_len())},
                    {"enable_prefix_caching", info.enable_prefix_caching ? "true" : "false"},
                    {"kv_cache_dtype", info.kv_cache_dtype}});
}

}  // namespace hearth::server
