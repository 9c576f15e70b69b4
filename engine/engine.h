// The engine: one loop thread that owns the scheduler, the KV cache and the backend, and runs
//
//   Schedule() ──▶ swaps / copies ──▶ Forward(batch) ──▶ Sample ──▶ Update() ──▶ emit deltas
//
// step after step while any request is unfinished (continuous, iteration-level batching).
// Other threads only enqueue (Submit, Abort) and read snapshots (Stats): single writer.
//
//   ASSIGN_OR_RETURN(auto model, LoadedModel::Open(path));
//   ASSIGN_OR_RETURN(auto engine, Engine::Create(*model, EngineConfig{}));
//   ASSIGN_OR_RETURN(auto stream, engine->Submit(request));
//   RequestOutput out;
//   while (stream->Next(&out)) std::cout << out.text;
//
// Ownership: borrows the LoadedModel, which must outlive the Engine.
// Thread-safety: every public method is thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/backend.h"
#include "engine/engine_config.h"
#include "engine/model/model.h"
#include "engine/model_runner.h"
#include "engine/request.h"
#include "engine/request_stream.h"
#include "engine/runtime/kv_sizing.h"
#include "engine/tokenizer/tokenizer.h"
#include "scheduler/scheduler.h"

namespace hearth::engine {

struct EngineStats {
  scheduler::SchedulerStats scheduler;
  int64_t num_steps = 0;
  int64_t prompt_tokens_computed = 0;  // prefill tokens run through the model
  int64_t generation_tokens = 0;       // tokens sampled
  int64_t num_requests_finished = 0;
  int32_t num_device_blocks = 0;  // KV blocks (the smallest stage's capacity)
  int32_t num_host_blocks = 0;
  int32_t block_size = 0;
  int64_t kv_capacity_tokens() const { return int64_t{num_device_blocks} * block_size; }
};

// What one engine step did, for metrics. The vectors are the engine's (reused each step).
struct StepMetrics {
  int32_t num_batched_tokens = 0;     // tokens run through the model (prefill + decode)
  int32_t num_generation_tokens = 0;  // tokens sampled
  int32_t num_prompt_tokens = 0;      // prompt lengths of the samples with their first token
  // Seconds, one per sample that got its first token this step: arrival -> that token.
  std::vector<double> time_to_first_token;
  // Seconds, one per other sampled token: the previous token of its sample -> this token.
  std::vector<double> inter_token_latency;
};

// Observers run on the engine thread (metrics, tests). Keep them quick; unset ones cost nothing
// (with on_step_metrics unset the engine does not even compute the latencies).
struct EngineHooks {
  std::function<void(const scheduler::SchedulerStep&)> on_step;
  // After each step that ran the model, before its outputs are delivered.
  std::function<void(const StepMetrics&)> on_step_metrics;
  // The final output of every sample (usage filled; finish set, or a non-OK status), just
  // before it is delivered.
  std::function<void(const RequestOutput&)> on_sample_finished;
};

// Everything one sample produced (offline generation).
struct SampleResult {
  std::vector<int32_t> token_ids;
  std::string text;
  std::vector<sampler::SampledToken> logprobs;
  std::optional<sampler::FinishInfo> finish;
  absl::Status status;
  Usage usage;
};

class Engine {
 public:
  // Builds the backend from config.device (engine/runtime/backend_factory.h), or takes
  // `backend` (tests inject one) whose stages' memory then sizes the KV cache.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const LoadedModel& model,
                                                        const EngineConfig& config,
                                                        EngineHooks hooks = {},
                                                        std::unique_ptr<Backend> backend = nullptr);
  // Aborts whatever is in flight (each sample gets a final abort output) and joins the loop.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request; `on_output` receives every delta of every sample on the engine thread.
  // Returns the request id. Errors (nothing is queued): InvalidArgument (bad params, empty
  // prompt, prompt + max_tokens over max_model_len, token id outside the vocabulary, a request
  // that could never fit the KV cache), ResourceExhausted (waiting queue full),
  // Unavailable (shutting down).
  absl::StatusOr<uint64_t> Submit(Request request, OutputCallback on_output);
  // Same, delivering into a blocking stream.
  absl::StatusOr<std::unique_ptr<RequestStream>> Submit(Request request);

  // Ends a request (all its samples) at the next loop turn, freeing its KV blocks. Harmless
  // for unknown or finished ids.
  void Abort(uint64_t request_id);

  // Runs `requests` to completion: one vector of samples per request, in order.
  absl::StatusOr<std::vector<std::vector<SampleResult>>> Generate(std::vector<Request> requests);

  EngineStats Stats() const;
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const ModelConfig& model_config() const { return model_.config(); }
  int32_t max_model_len() const { return sched_config_.max_model_len; }
  const EngineConfig& config() const { return config_; }
  // How the KV cache was sized (per stage), and the stages ("cpu[0-14] + cpu[15-29]").
  const KvCachePlan& kv_plan() const { return kv_plan_; }
  const std::string& backend_description() const { return backend_description_; }

 private:
  struct SeqState;  // engine.cc
  struct Pending {
    uint64_t id;
    Request request;
    OutputCallback on_output;
    double arrival;
  };

  Engine(const LoadedModel& model, const EngineConfig& config, EngineHooks hooks);
  absl::Status Init(std::unique_ptr<Backend> backend);
  absl::Status CheckAdmissible(const Request& request) const;

  void Loop();
  void Admit(Pending pending);
  void AbortRequest(uint64_t request_id);
  void PublishStats();  // copies the engine thread's stats into the shared snapshot
  void RunStep();
  void FailStep(const scheduler::SchedulerStep& step, const absl::Status& status);
  void FinishSequence(scheduler::SeqId id, SeqState& s, RequestOutput out);
  // Outputs are queued during a loop turn and delivered after the stats are published.
  void Emit(const OutputCallback& callback, RequestOutput out);
  void FlushEmits();

  const LoadedModel& model_;
  EngineConfig config_;
  EngineHooks hooks_;
  scheduler::SchedulerConfig sched_config_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  KvCachePlan kv_plan_;
  std::string backend_description_;
  std::vector<int32_t> eos_ids_;

  // Inbox, written by any thread.
  mutable absl::Mutex mu_;
  std::deque<Pending> incoming_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> aborts_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  EngineStats stats_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<int32_t> queued_{0};  // submitted, not yet finished (for the queue bound)

  // Engine-thread state.
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<ModelRunner> runner_;
  absl::flat_hash_map<scheduler::SeqId, std::unique_ptr<SeqState>> seqs_;
  absl::flat_hash_map<uint64_t, std::vector<scheduler::SeqId>> request_seqs_;
  scheduler::SeqId next_seq_id_ = 1;
  EngineStats local_stats_;
  StepMetrics step_metrics_;  // filled per step when hooks_.on_step_metrics is set
  std::vector<std::pair<OutputCallback, RequestOutput>> emits_;

  std::thread loop_;
};

}  // namespace hearth::engine
