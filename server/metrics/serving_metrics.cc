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

absl::StatusOr<std::unique_ptr<ServingMetrics>> ServingMetrics::Create(
    metrics::Registry* registry, std::vector<std::string> model_names) {
  if (registry == nullptr) return absl::InvalidArgumentError("ServingMetrics: null registry");
  if (model_names.empty()) return absl::InvalidArgumentError("ServingMetrics: no model");
  std::unique_ptr<ServingMetrics> m(new ServingMetrics(registry));
  RETURN_IF_ERROR(m->Init(model_names));
  return m;
}

absl::Status ServingMetrics::Init(const std::vector<std::string>& model_names) {
  metrics::Registry& r = *registry_;
  const std::vector<std::string> model = {"model_name"};
  for (const std::string& name : model_names) {
    auto series = std::make_unique<ModelSeries>();
    series->name = name;
    models_.push_back(std::move(series));
  }

  struct HistogramSpec {
    metrics::Histogram* ModelSeries::*series;        // per model, or nullptr
    metrics::Histogram* PerProtocol::*per_protocol;  // per model and protocol, or nullptr
    const char* name;
    const char* help;
    std::vector<double> buckets;
  };
  const std::vector<double> latency = metrics::RequestLatencyBuckets();
  const std::vector<HistogramSpec> histograms = {
      {&ModelSeries::ttft, nullptr, "time_to_first_token_seconds",
       "Seconds from a request's arrival to its first generated token (per sample).",
       metrics::TimeToFirstTokenBuckets()},
      {&ModelSeries::itl, nullptr, "inter_token_latency_seconds",
       "Seconds between consecutive generated tokens of a sample (every token after the first).",
       metrics::InterTokenLatencyBuckets()},
      {nullptr, &PerProtocol::e2e, "e2e_request_latency_seconds",
       "Seconds from a request's arrival to its finish (per finished sample).", latency},
      {nullptr, &PerProtocol::queue_time, "request_queue_time_seconds",
       "Seconds a finished sample waited from arrival until first scheduled (a lazy model's "
       "load included).",
       latency},
      {nullptr, &PerProtocol::prefill_time, "request_prefill_time_seconds",
       "Seconds from first scheduled to first token of a finished sample.", latency},
      {nullptr, &PerProtocol::decode_time, "request_decode_time_seconds",
       "Seconds from first token to last token of a finished sample.", latency},
      {nullptr, &PerProtocol::prompt_tokens, "request_prompt_tokens",
       "Prompt length of finished samples.", metrics::OneTwoFiveBuckets(1 << 20)},
      {nullptr, &PerProtocol::generation_tokens, "request_generation_tokens",
       "Generated tokens of finished samples.", metrics::OneTwoFiveBuckets(1 << 20)},
      {&ModelSeries::iteration_tokens, nullptr, "iteration_tokens",
       "Tokens run through the model per engine step (prefill + decode).",
       metrics::OneTwoFiveBuckets(1 << 16)},
      {&ModelSeries::load_duration,
       nullptr,
       "model_load_duration_seconds",
       "Seconds to load a model (weights and engine), per successful load.",
       {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300}},
  };
  // The protocols whose requests generate (the metrics port only refuses or serves scrapes).
  constexpr Protocol kGenerating[] = {Protocol::kGrpc, Protocol::kOpenAi, Protocol::kOllama};
  for (const HistogramSpec& h : histograms) {
    if (h.series != nullptr) {
      ASSIGN_OR_RETURN(metrics::HistogramFamily * family,
                       r.AddHistogram(Name(h.name), h.help, model, h.buckets));
      for (auto& m : models_) {
        ASSIGN_OR_RETURN((*m).*h.series, family->WithLabels({m->name}));
      }
      continue;
    }
    ASSIGN_OR_RETURN(metrics::HistogramFamily * family,
                     r.AddHistogram(Name(h.name), h.help, {"model_name", "protocol"}, h.buckets));
    for (auto& m : models_) {
      for (Protocol p : kGenerating) {
        ASSIGN_OR_RETURN(m->protocols[static_cast<int>(p)].*h.per_protocol,
                         family->WithLabels({m->name, std::string(ProtocolName(p))}));
      }
    }
  }

  struct CounterSpec {
    metrics::Counter* ModelSeries::*series;
    const char* name;
    const char* help;
  };
  const CounterSpec counters[] = {
      {&ModelSeries::prompt_tokens, "prompt_tokens_total",
       "Prompt tokens of samples that produced their first token."},
      {&ModelSeries::generation_tokens, "generation_tokens_total", "Generated tokens."},
      {&ModelSeries::preemptions, "num_preemptions_total", "Preemptions (recompute and swap)."},
      {&ModelSeries::prefix_queries, "prefix_cache_queries_total",
       "Prompt tokens looked up in the prefix cache."},
      {&ModelSeries::prefix_hits, "prefix_cache_hits_total",
       "Prompt tokens found in the prefix cache."},
      {&ModelSeries::loads, "model_loads_total", "Successful loads of the model."},
      {&ModelSeries::load_failures, "model_load_failures_total",
       "Loads of the model that failed (the requests waiting on them got the error)."},
  };
  for (const CounterSpec& c : counters) {
    ASSIGN_OR_RETURN(metrics::CounterFamily * family, r.AddCounter(Name(c.name), c.help, model));
    for (auto& m : models_) {
      ASSIGN_OR_RETURN((*m).*c.series, family->WithLabels({m->name}));
    }
  }
  struct GaugeSpec {
    metrics::Gauge* ModelSeries::*series;
    const char* name;
    const char* help;
  };
  const GaugeSpec gauges[] = {
      {&ModelSeries::running, "num_requests_running", "Samples in the running batch."},
      {&ModelSeries::waiting, "num_requests_waiting", "Samples waiting to be scheduled."},
      {&ModelSeries::swapped, "num_requests_swapped", "Samples preempted to host swap space."},
      {&ModelSeries::kv_usage, "kv_cache_usage_perc",
       "Fraction of device KV blocks in use, 0 to 1 (0 while the model is not loaded)."},
      {&ModelSeries::loaded, "model_loaded", "1 while the model is loaded, else 0."},
  };
  for (const GaugeSpec& g : gauges) {
    ASSIGN_OR_RETURN(metrics::GaugeFamily * family, r.AddGauge(Name(g.name), g.help, model));
    for (auto& m : models_) {
      ASSIGN_OR_RETURN((*m).*g.series, family->WithLabels({m->name}));
    }
  }
  ASSIGN_OR_RETURN(unloads_, r.AddCounter(Name("model_unloads_total"),
                                          "Unloads of the model by reason (idle: keep_alive "
                                          "passed; evicted: room for another model; requested: "
                                          "keep_alive 0; shutdown).",
                                          {"model_name", "reason"}));
  for (auto& m : models_) {
    for (const char* reason : {"idle", "evicted", "requested"}) {
      RETURN_IF_ERROR(unloads_->WithLabels({m->name, reason}).status());
    }
  }
  ASSIGN_OR_RETURN(
      build_info_,
      r.AddGauge(Name("build_info"),
                 "Build, model and KV cache configuration of each loaded model (value 1; facts "
                 "in the labels).",
                 {"model_name", "version", "backend", "architecture", "quant_type", "block_size",
                  "num_gpu_blocks", "num_swap_blocks", "max_model_len", "enable_prefix_caching",
                  "kv_cache_dtype"}));

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
  for (auto& m : models_) {
    for (int pi = 0; pi < kNumProtocols; ++pi) {
      const Protocol p = static_cast<Protocol>(pi);
      const std::string protocol(ProtocolName(p));
      PerProtocol& series = m->protocols[pi];
      // Refusals happen before a model is chosen: the default model's series only.
      if (m == models_.front()) {
        ASSIGN_OR_RETURN(series.unauthenticated, unauthenticated->WithLabels({m->name, protocol}));
      }
      if (p == Protocol::kMetrics) continue;
      for (sampler::FinishReason reason :
           {sampler::FinishReason::kStop, sampler::FinishReason::kLength,
            sampler::FinishReason::kAbort, sampler::FinishReason::kConstraintUnmet}) {
        ASSIGN_OR_RETURN(series.success[static_cast<int>(reason)],
                         success->WithLabels(
                             {m->name, std::string(sampler::FinishReasonName(reason)), protocol}));
      }
      for (int code = 1; code < kNumCodes; ++code) {
        ASSIGN_OR_RETURN(series.failure[code],
                         failure->WithLabels({m->name, kCodeNames[code], protocol}));
      }
    }
  }
  return absl::OkStatus();
}

ServingMetrics::ModelSeries& ServingMetrics::Series(const std::string& model) {
  for (auto& m : models_) {
    if (m->name == model) return *m;
  }
  return *models_.front();
}

engine::EngineHooks ServingMetrics::Hooks(const std::string& model) {
  engine::EngineHooks hooks;
  ModelSeries* series = &Series(model);
  hooks.on_step_metrics = [this, series](const engine::StepMetrics& step) {
    ObserveStep(series->name, step);
  };
  return hooks;
}

void ServingMetrics::ObserveStep(const std::string& model, const engine::StepMetrics& step) {
  ModelSeries& m = Series(model);
  m.iteration_tokens->Observe(step.num_batched_tokens);
  m.generation_tokens->Increment(step.num_generation_tokens);
  if (step.num_prompt_tokens > 0) m.prompt_tokens->Increment(step.num_prompt_tokens);
  for (double v : step.time_to_first_token) m.ttft->Observe(v);
  for (double v : step.inter_token_latency) m.itl->Observe(v);
}

void ServingMetrics::ObserveFinished(const engine::RequestOutput& out, Protocol protocol,
                                     const std::string& model) {
  if (!out.status.ok() || !out.finish.has_value() || protocol == Protocol::kMetrics) return;
  const PerProtocol& s = Series(model).protocols[static_cast<int>(protocol)];
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

void ServingMetrics::CountFailure(grpc::StatusCode code, Protocol protocol,
                                  const std::string& model) {
  const int i = static_cast<int>(code);
  if (i > 0 && i < kNumCodes && protocol != Protocol::kMetrics) {
    Series(model).protocols[static_cast<int>(protocol)].failure[i]->Increment();
  }
}

void ServingMetrics::CountUnauthenticated(Protocol protocol) {
  models_.front()->protocols[static_cast<int>(protocol)].unauthenticated->Increment();
}

void ServingMetrics::ObserveLoad(const std::string& model, double seconds) {
  ModelSeries& m = Series(model);
  m.loads->Increment();
  m.load_duration->Observe(seconds);
}

void ServingMetrics::CountLoadFailure(const std::string& model) {
  Series(model).load_failures->Increment();
}

void ServingMetrics::CountUnload(const std::string& model, const std::string& reason) {
  auto series = unloads_->WithLabels({Series(model).name, reason});
  if (series.ok()) (*series)->Increment();
}

void ServingMetrics::SetModelSource(ModelSource source, const ServingInfo& info) {
  absl::MutexLock lock(&refresh_mu_);
  source_ = std::move(source);
  info_ = info;
}

void ServingMetrics::Refresh() {
  absl::MutexLock lock(&refresh_mu_);
  if (!source_) return;
  source_([this](const std::string& name, const ServedEngine* served) {
    ModelSeries& m = Series(name);
    const engine::Engine* engine = served != nullptr ? served->engine : nullptr;
    m.loaded->Set(engine != nullptr ? 1 : 0);
    if (engine == nullptr) {
      m.running->Set(0);
      m.waiting->Set(0);
      m.swapped->Set(0);
      m.kv_usage->Set(0);
      m.last_engine = nullptr;
      if (m.info != nullptr) m.info->Set(0);
      return;
    }
    const engine::EngineStats stats = engine->Stats();
    const scheduler::SchedulerStats& s = stats.scheduler;
    m.running->Set(s.num_running);
    m.waiting->Set(s.num_waiting);
    m.swapped->Set(s.num_swapped);
    m.kv_usage->Set(s.kv_usage);
    // Cumulative engine counters: add what grew since the last look (all of it for a new engine).
    if (m.last_engine != engine) {
      m.last_engine = engine;
      m.last_preemptions = m.last_prefix_queries = m.last_prefix_hits = 0;
    }
    auto advance = [](metrics::Counter* c, double* last, double now) {
      c->Increment(now >= *last ? now - *last : now);  // smaller: a new engine started at 0
      *last = now;
    };
    advance(m.preemptions, &m.last_preemptions,
            static_cast<double>(s.num_preemptions_recompute + s.num_preemptions_swap));
    advance(m.prefix_queries, &m.last_prefix_queries,
            static_cast<double>(s.prefix_cache_query_tokens));
    advance(m.prefix_hits, &m.last_prefix_hits, static_cast<double>(s.prefix_cache_hit_tokens));
    auto info = build_info_->WithLabels(
        {m.name, info_.version, served->facts.backend, served->facts.architecture,
         served->facts.quant_type, absl::StrCat(stats.block_size),
         // vLLM's label name (device KV blocks on any backend).
         absl::StrCat(stats.num_device_blocks), absl::StrCat(stats.num_host_blocks),
         absl::StrCat(engine->max_model_len()), info_.enable_prefix_caching ? "true" : "false",
         info_.kv_cache_dtype});
    if (info.ok()) {
      if (m.info != nullptr && m.info != *info) m.info->Set(0);
      m.info = *info;
      m.info->Set(1);
    }
  });
}

}  // namespace hearth::server
