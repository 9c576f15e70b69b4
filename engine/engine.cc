#include "engine/engine.h"

#include <chrono>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/host_resources.h"
#include "common/status_macros.h"
#include "engine/runtime/backend_factory.h"
#include "engine/runtime/kv_sizing.h"
#include "engine/sampler/sampler_state.h"
#include "engine/sampler/stop_checker.h"
#include "engine/tokenizer/incremental_decoder.h"

namespace hearth::engine {
namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

sampler::FinishInfo FinishedBy(sampler::StopCause cause) {
  sampler::FinishInfo info;
  info.cause = cause;
  return info;
}

}  // namespace

// One sample of one request, owned by the engine thread.
struct Engine::SeqState {
  uint64_t request_id = 0;
  int32_t sample_index = 0;
  OutputCallback on_output;
  sampler::SamplerState sampler_state;
  sampler::StopChecker stop_checker;
  tokenizer::IncrementalDecoder decoder;
  bool want_logprobs = false;
  int32_t prompt_tokens = 0;
  int32_t cached_prompt_tokens = -1;  // known once first scheduled
  double arrival = 0;
  double first_scheduled = 0;
  double first_token = 0;
  double last_token = 0;
};

Engine::Engine(const LoadedModel& model, const EngineConfig& config, EngineHooks hooks)
    : model_(model), config_(config), hooks_(std::move(hooks)) {}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const LoadedModel& model,
                                                       const EngineConfig& config,
                                                       EngineHooks hooks,
                                                       std::unique_ptr<Backend> backend) {
  RETURN_IF_ERROR(config.Validate());
  std::unique_ptr<Engine> engine(new Engine(model, config, std::move(hooks)));
  RETURN_IF_ERROR(engine->Init(std::move(backend)));
  engine->loop_ = std::thread([e = engine.get()] { e->Loop(); });
  return engine;
}

absl::Status Engine::Init(std::unique_ptr<Backend> backend) {
  ASSIGN_OR_RETURN(tokenizer_, tokenizer::Tokenizer::FromGguf(model_.file()));
  eos_ids_ = tokenizer_->stop_ids();
  if (backend == nullptr) {
    BackendConfig bc;
    bc.device = config_.device;
    bc.kv_dtype = config_.kv_cache.ResolvedDtype(config_.device.cpu_precision);
    ASSIGN_OR_RETURN(backend, CreateBackend(model_, bc));
  }
  backend_description_ = backend->Describe();

  // Size the cache over every stage's memory and cap the context to it.
  sched_config_ = config_.scheduler;
  const int32_t block_size = sched_config_.block_size;
  KvCacheRequest request;
  request.kv_cache_bytes = config_.kv_cache.bytes;
  request.memory_fraction = config_.kv_cache.memory_fraction;
  request.swap_space_bytes = config_.kv_cache.swap_space_bytes;
  request.block_size = block_size;
  request.max_model_len = sched_config_.max_model_len;
  request.model_context_length = model_.config().context_length;
  request.max_num_seqs = sched_config_.max_num_seqs;
  const std::vector<StageMemoryInfo> stages = backend->StageMemory(block_size);
  // Swap space (and a CPU stage's K/V) live in host RAM, whatever the stages: what this process
  // may still use of it, its container's cgroup limit applied.
  request.host_free_bytes = common::AvailableMemoryBytes();
  ASSIGN_OR_RETURN(kv_plan_, PlanKvCache(stages, request));
  sched_config_.num_device_blocks = kv_plan_.num_device_blocks;
  sched_config_.num_host_blocks = kv_plan_.num_host_blocks;
  sched_config_.max_model_len = kv_plan_.max_model_len;
  // Submit bounds what is in flight; the scheduler's own bound must not bite first (a burst
  // is admitted before the first step moves anything to running).
  sched_config_.max_waiting_requests =
      config_.scheduler.max_waiting_requests + config_.scheduler.max_num_seqs;
  ASSIGN_OR_RETURN(scheduler_, scheduler::Scheduler::Create(sched_config_));
  RETURN_IF_ERROR(backend->InitKvCache(sched_config_.num_device_blocks,
                                       sched_config_.num_host_blocks, block_size));
  runner_ = std::make_unique<ModelRunner>(std::move(backend));
  absl::MutexLock lock(&mu_);
  stats_.num_device_blocks = local_stats_.num_device_blocks = sched_config_.num_device_blocks;
  stats_.num_host_blocks = local_stats_.num_host_blocks = sched_config_.num_host_blocks;
  stats_.block_size = local_stats_.block_size = block_size;
  return absl::OkStatus();
}

Engine::~Engine() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (loop_.joinable()) loop_.join();
}

absl::Status Engine::CheckAdmissible(const Request& request) const {
  RETURN_IF_ERROR(request.params.Validate());
  const int64_t prompt = static_cast<int64_t>(request.prompt_tokens.size());
  if (prompt == 0) return absl::InvalidArgumentError("prompt: must not be empty");
  const int32_t vocab = runner_->backend().vocab_size();
  for (size_t i = 0; i < request.prompt_tokens.size(); ++i) {
    const int32_t t = request.prompt_tokens[i];
    if (t < 0 || t >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt token ", i, ": id ", t, " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  const int64_t max_len = sched_config_.max_model_len;
  const int64_t max_tokens = request.params.max_tokens.value_or(1);
  if (prompt + max_tokens > max_len) {
    return absl::InvalidArgumentError(absl::StrCat("prompt (", prompt, " tokens) + max_tokens (",
                                                   max_tokens, ") exceeds the context length ",
                                                   max_len));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Engine::Submit(Request request, OutputCallback on_output) {
  RETURN_IF_ERROR(CheckAdmissible(request));
  const int32_t n = request.params.n;
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::UnavailableError("engine is shutting down");
  // At most max_num_seqs running plus max_waiting_requests waiting, whatever the last step's
  // running count (stale during a burst) says.
  if (queued_.load() + n >
      config_.scheduler.max_waiting_requests + config_.scheduler.max_num_seqs) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "waiting queue is full (max_waiting_requests = ", config_.scheduler.max_waiting_requests,
        ")"));
  }
  const uint64_t id = next_request_id_.fetch_add(1);
  queued_ += n;
  const double now = NowSeconds();
  const double arrival =
      request.arrival_seconds > 0 && request.arrival_seconds <= now ? request.arrival_seconds : now;
  incoming_.push_back(Pending{id, std::move(request), std::move(on_output), arrival});
  return id;
}

absl::StatusOr<std::unique_ptr<RequestStream>> Engine::Submit(Request request) {
  auto stream = std::make_unique<RequestStream>(request.params.n);
  RequestStream* raw = stream.get();
  ASSIGN_OR_RETURN(uint64_t id, Submit(std::move(request),
                                       [raw](RequestOutput out) { raw->Push(std::move(out)); }));
  stream->set_request_id(id);
  return stream;
}

void Engine::Abort(uint64_t request_id) {
  absl::MutexLock lock(&mu_);
  aborts_.push_back(request_id);
}

EngineStats Engine::Stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Engine::Loop() {
  for (;;) {
    std::deque<Pending> incoming;
    std::vector<uint64_t> aborts;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      auto has_input = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !incoming_.empty() || !aborts_.empty();
      };
      if (!scheduler_->HasUnfinished()) mu_.Await(absl::Condition(&has_input));
      incoming.swap(incoming_);
      aborts.swap(aborts_);
      stopping = stopping_;
    }
    for (Pending& p : incoming) Admit(std::move(p));
    for (uint64_t id : aborts) AbortRequest(id);
    if (!incoming.empty() || !aborts.empty()) PublishStats();
    FlushEmits();
    if (stopping) {
      std::vector<uint64_t> all;
      for (const auto& [id, seqs] : request_seqs_) all.push_back(id);
      for (uint64_t id : all) AbortRequest(id);
      PublishStats();
      FlushEmits();
      return;
    }
    if (scheduler_->HasUnfinished()) RunStep();
  }
}

void Engine::Admit(Pending p) {
  const sampler::SamplingParams& params = p.request.params;
  const int32_t prompt_len = static_cast<int32_t>(p.request.prompt_tokens.size());
  const int32_t max_tokens = params.max_tokens.value_or(sched_config_.max_model_len - prompt_len);
  std::vector<scheduler::SeqId>& ids = request_seqs_[p.id];
  for (int32_t i = 0; i < params.n; ++i) {
    RequestOutput error;
    error.request_id = p.id;
    error.sample_index = i;
    auto sampler_state =
        sampler::SamplerState::Create(params, p.request.prompt_tokens, eos_ids_, i);
    auto checker =
        sampler::StopChecker::Create(params, eos_ids_, prompt_len, sched_config_.max_model_len);
    absl::Status status = sampler_state.ok() ? checker.status() : sampler_state.status();
    const scheduler::SeqId seq_id = next_seq_id_++;
    if (status.ok()) {
      scheduler::Sequence seq = scheduler::Sequence::FromPrompt(seq_id, p.request.prompt_tokens,
                                                                max_tokens, p.request.priority);
      status = scheduler_->Add(std::move(seq));
    }
    if (!status.ok()) {
      --queued_;
      error.status = status;
      Emit(p.on_output, std::move(error));
      continue;
    }
    auto state = std::unique_ptr<SeqState>(
        new SeqState{p.id, i, p.on_output, *std::move(sampler_state), *std::move(checker),
                     tokenizer::IncrementalDecoder(tokenizer_.get()), params.logprobs.has_value(),
                     prompt_len, -1, p.arrival, 0, 0, 0});
    seqs_.emplace(seq_id, std::move(state));
    ids.push_back(seq_id);
  }
  if (ids.empty()) request_seqs_.erase(p.id);
}

void Engine::AbortRequest(uint64_t request_id) {
  auto it = request_seqs_.find(request_id);
  if (it == request_seqs_.end()) return;
  const std::vector<scheduler::SeqId> ids = it->second;
  for (scheduler::SeqId id : ids) {
    auto s = seqs_.find(id);
    if (s == seqs_.end()) continue;
    scheduler_->Abort(id);
    RequestOutput out;
    out.finish = FinishedBy(sampler::StopCause::kAbort);
    FinishSequence(id, *s->second, std::move(out));
    seqs_.erase(s);
  }
}

void Engine::PublishStats() {
  local_stats_.scheduler = scheduler_->Stats();
  absl::MutexLock lock(&mu_);
  stats_ = local_stats_;
}

// Fills the final output's identity and usage, emits it and updates the request map.
// REQUIRES: the caller erases the SeqState afterwards (and has ended it in the scheduler).
void Engine::FinishSequence(scheduler::SeqId id, SeqState& s, RequestOutput out) {
  const double now = NowSeconds();
  out.request_id = s.request_id;
  out.sample_index = s.sample_index;
  out.usage.prompt_tokens = s.prompt_tokens;
  out.usage.cached_prompt_tokens = std::max(0, s.cached_prompt_tokens);
  out.usage.completion_tokens = static_cast<int32_t>(s.stop_checker.num_output_tokens());
  out.usage.queue_seconds = s.first_scheduled > 0 ? s.first_scheduled - s.arrival : 0;
  out.usage.time_to_first_token_seconds = s.first_token > 0 ? s.first_token - s.arrival : 0;
  out.usage.e2e_seconds = now - s.arrival;
  if (s.first_token > 0) {
    out.usage.prefill_seconds = s.first_token - s.first_scheduled;
    out.usage.decode_seconds = s.last_token - s.first_token;
  }
  --queued_;
  ++local_stats_.num_requests_finished;
  auto it = request_seqs_.find(s.request_id);
  if (it != request_seqs_.end()) {
    std::erase(it->second, id);
    if (it->second.empty()) request_seqs_.erase(it);
  }
  if (hooks_.on_sample_finished) hooks_.on_sample_finished(out);
  Emit(s.on_output, std::move(out));
}

void Engine::Emit(const OutputCallback& callback, RequestOutput out) {
  emits_.emplace_back(callback, std::move(out));
}

void Engine::FlushEmits() {
  // Callbacks may be copied callables owned by a SeqState that is gone now: emits_ holds
  // its own copies.
  std::vector<std::pair<OutputCallback, RequestOutput>> emits;
  emits.swap(emits_);
  for (auto& [callback, out] : emits) callback(std::move(out));
}

void Engine::FailStep(const scheduler::SchedulerStep& step, const absl::Status& status) {
  for (const auto& ss : step.sequences) {
    auto it = seqs_.find(ss.id);
    if (it == seqs_.end()) continue;
    (void)scheduler_->Finish(ss.id, FinishReason::kError);
    RequestOutput out;
    out.status = status;
    FinishSequence(ss.id, *it->second, std::move(out));
    seqs_.erase(it);
  }
  PublishStats();
  FlushEmits();
}

void Engine::RunStep() {
  scheduler::SchedulerStep step = scheduler_->Schedule();
  if (step.empty()) {
    // Nothing fits right now (should be transient): wait for input rather than spin.
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](std::deque<Pending>* q) { return !q->empty(); }, &incoming_),
                         absl::Milliseconds(1));
    return;
  }
  const double now = NowSeconds();
  int32_t prefill_tokens = 0;
  for (const auto& ss : step.sequences) {
    SeqState& s = *seqs_.at(ss.id);
    if (s.cached_prompt_tokens < 0) {
      s.cached_prompt_tokens = ss.start_position;
      s.first_scheduled = now;
    }
    if (!(ss.sample && ss.num_tokens() == 1 && ss.start_position >= s.prompt_tokens)) {
      prefill_tokens += ss.num_tokens();
    }
  }
  auto output = runner_->Execute(step, [this](scheduler::SeqId id) -> sampler::SamplerState& {
    return seqs_.at(id)->sampler_state;
  });
  if (!output.ok()) {
    FailStep(step, output.status());  // e.g. NaN logits: the model or file is broken
    return;
  }
  std::vector<int32_t> sampled;
  std::vector<sampler::SampledToken> sampled_full;
  std::vector<scheduler::SeqId> sampled_ids;
  for (SampledSequence& s : output->sampled) {
    sampled.push_back(s.token.id);
    sampled_ids.push_back(s.id);
    sampled_full.push_back(std::move(s.token));
  }
  auto finished = scheduler_->Update(step, sampled);
  if (!finished.ok()) {
    FailStep(step, finished.status());
    return;
  }
  absl::flat_hash_map<scheduler::SeqId, FinishReason> finished_by_scheduler;
  for (const auto& f : *finished) finished_by_scheduler[f.id] = f.reason;

  const double token_time = NowSeconds();
  const bool step_metrics = static_cast<bool>(hooks_.on_step_metrics);
  if (step_metrics) {
    step_metrics_.time_to_first_token.clear();
    step_metrics_.inter_token_latency.clear();
    step_metrics_.num_prompt_tokens = 0;
  }
  for (size_t i = 0; i < sampled_ids.size(); ++i) {
    auto it = seqs_.find(sampled_ids[i]);
    if (it == seqs_.end()) continue;
    SeqState& s = *it->second;
    if (s.first_token == 0) {
      s.first_token = token_time;
      if (step_metrics) {
        step_metrics_.time_to_first_token.push_back(token_time - s.arrival);
        step_metrics_.num_prompt_tokens += s.prompt_tokens;
      }
    } else if (step_metrics) {
      step_metrics_.inter_token_latency.push_back(token_time - s.last_token);
    }
    s.last_token = token_time;
    const int32_t token = sampled[i];
    sampler::StopUpdate update = s.stop_checker.Append(token, s.decoder.Add(token));
    RequestOutput out;
    out.request_id = s.request_id;
    out.sample_index = s.sample_index;
    out.token_ids.push_back(token);
    out.text = std::move(update.text);
    if (s.want_logprobs) out.logprobs.push_back(std::move(sampled_full[i]));

    auto by_sched = finished_by_scheduler.find(sampled_ids[i]);
    if (!update.finish && by_sched != finished_by_scheduler.end()) {
      // The scheduler's length limit agrees with the checker's; this is the safety net.
      update.finish = FinishedBy(sampler::StopCause::kMaxTokens);
    }
    if (update.finish) {
      update.finish = s.sampler_state.CheckConstraint(*update.finish);
      if (by_sched == finished_by_scheduler.end()) {
        (void)scheduler_->Finish(sampled_ids[i], update.finish->reason());
      }
      if (update.finish->reason() != sampler::FinishReason::kStop) out.text += s.decoder.Flush();
      out.finish = update.finish;
      FinishSequence(sampled_ids[i], s, std::move(out));
      seqs_.erase(it);
    } else {
      Emit(s.on_output, std::move(out));
    }
  }

  ++local_stats_.num_steps;
  local_stats_.prompt_tokens_computed += prefill_tokens;
  local_stats_.generation_tokens += static_cast<int64_t>(sampled.size());
  if (step_metrics) {
    step_metrics_.num_batched_tokens = step.num_batched_tokens;
    step_metrics_.num_generation_tokens = static_cast<int32_t>(sampled.size());
    hooks_.on_step_metrics(step_metrics_);
  }
  // Stats first, then outputs: a client that sees its request finish also sees its blocks
  // back in the pool.
  PublishStats();
  FlushEmits();
  if (hooks_.on_step) hooks_.on_step(step);
}

absl::StatusOr<std::vector<std::vector<SampleResult>>> Engine::Generate(
    std::vector<Request> requests) {
  std::vector<std::unique_ptr<RequestStream>> streams;
  std::vector<std::vector<SampleResult>> results(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    results[i].resize(requests[i].params.n);
    ASSIGN_OR_RETURN(auto stream, Submit(std::move(requests[i])));
    streams.push_back(std::move(stream));
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    RequestOutput out;
    while (streams[i]->Next(&out)) {
      SampleResult& r = results[i][out.sample_index];
      r.token_ids.insert(r.token_ids.end(), out.token_ids.begin(), out.token_ids.end());
      r.text += out.text;
      for (auto& lp : out.logprobs) r.logprobs.push_back(std::move(lp));
      if (out.final()) {
        r.finish = out.finish;
        r.status = out.status;
        r.usage = out.usage;
      }
    }
  }
  return results;
}

}  // namespace hearth::engine
