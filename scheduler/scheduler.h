// Scheduler: continuous batching over a paged KV cache (vLLM v1 style, token-budget based).
//
// Queues: waiting (by priority, then arrival), running (by priority, then admission), swapped
// (by priority, then arrival). Each Schedule() fills a token budget:
//
//   1. running decodes, 1 token each            } preempting the lowest-priority, most
//   2. running prefills, the next chunk         } recently admitted running sequence while
//                                               } blocks run out (possibly the one asking)
//   3. swapped sequences, resumed while blocks allow     } only when nothing was preempted
//   4. waiting sequences, admitted by priority / FCFS     } this step (and 4: none swapped)
//
// under max_num_seqs and max_num_batched_tokens; long prompts are split into chunks across
// steps so decodes keep their pace.
//
// Usage (one engine thread):
//   SchedulerStep step = scheduler.Schedule();
//   ... backend: SwapOut(step.swap_out), SwapIn(step.swap_in), CopyBlocks(step.copies),
//       Forward(batch from step) -> one sampled token per sequence with sample = true ...
//   ASSIGN_OR_RETURN(auto finished, scheduler.Update(step, sampled));
// REQUIRES: every Schedule() is followed by its Update() before the next Schedule(); a
// sequence whose step failed is ended with Finish(id, FinishReason::kError).
//
// Thread-safety: not thread-safe. Other threads hand requests to the engine thread.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <tuple>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kvcache/kv_cache_manager.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_step.h"
#include "scheduler/sequence.h"

namespace hearth::scheduler {

struct FinishedSequence {
  SeqId id = 0;
  FinishReason reason = FinishReason::kNone;
  std::vector<int32_t> output_token_ids;
};

struct SchedulerStats {
  int32_t num_running = 0;
  int32_t num_waiting = 0;
  int32_t num_swapped = 0;
  int64_t num_preemptions_recompute = 0;
  int64_t num_preemptions_swap = 0;
  int64_t prefix_cache_query_tokens = 0;
  int64_t prefix_cache_hit_tokens = 0;
  double kv_usage = 0.0;               // device blocks held / device blocks
  double kv_slot_waste = 0.0;          // allocated token slots not holding a token / allocated
  int32_t num_free_device_blocks = 0;  // free + evictable
};

class Scheduler {
 public:
  // InvalidArgument when the config is not valid.
  static absl::StatusOr<std::unique_ptr<Scheduler>> Create(const SchedulerConfig& config);

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a new sequence (its token_ids are the prompt). Errors, with a message saying why:
  //   AlreadyExists     the id is in use;
  //   InvalidArgument   empty prompt, max_tokens < 1, prompt + max_tokens > max_model_len,
  //                     the request could never fit in the whole KV cache, or (chunked
  //                     prefill off) the prompt exceeds max_num_batched_tokens;
  //   ResourceExhausted the waiting queue holds max_waiting_requests already.
  absl::Status Add(Sequence seq);

  // Ends a sequence in any state and frees its blocks at once. False when `id` is unknown or
  // already finished.
  bool Abort(SeqId id);
  // Ends a sequence for the engine (stop string, error). NotFound when unknown or finished;
  // InvalidArgument for FinishReason::kNone.
  absl::StatusOr<FinishedSequence> Finish(SeqId id, FinishReason reason);

  // Parallel sampling (n > 1): `child_id` starts as a copy of running `parent_id`, sharing all
  // of its KV blocks (the first writer into a shared, partly filled block gets a copy, listed
  // in the step's `copies`). The child's newest token, whose KV is not computed yet, becomes
  // `last_token` (the parent's i-th sample). Call between Update() and Schedule().
  // NotFound: unknown parent; AlreadyExists: child id in use; FailedPrecondition: parent not
  // running or has not sampled yet. The child may take running past max_num_seqs.
  absl::Status Fork(SeqId parent_id, SeqId child_id, int32_t last_token);

  // Plans the next step. Empty when nothing can run.
  SchedulerStep Schedule();

  // Applies a step: advances computed tokens, caches full blocks for prefix reuse, appends
  // `sampled` (one token per sequence with sample = true, in step order), and finishes
  // sequences on a stop token or on reaching max_tokens / max_model_len. Sequences aborted
  // since Schedule() are skipped. InvalidArgument when sampled.size() != step.num_sampled().
  absl::StatusOr<std::vector<FinishedSequence>> Update(const SchedulerStep& step,
                                                       absl::Span<const int32_t> sampled);

  // Unfinished sequence by id, or nullptr. Valid until the next non-const call.
  const Sequence* Find(SeqId id) const;
  bool HasUnfinished() const { return !seqs_.empty(); }
  SchedulerStats Stats() const;
  const SchedulerConfig& config() const { return config_; }
  const kvcache::KvCacheManager& kv_cache() const { return kv_; }

 private:
  // (priority, order, id): ascending = runs first.
  using QueueKey = std::tuple<int32_t, int64_t, SeqId>;
  struct Plan;  // one step under construction (scheduler.cc)

  explicit Scheduler(const SchedulerConfig& config);

  static QueueKey WaitingKey(const Sequence& s) { return {s.priority, s.arrival_order, s.id}; }
  static QueueKey RunningKey(const Sequence& s) { return {s.priority, s.admission_order, s.id}; }

  void ScheduleRunning(bool decodes, Plan& plan);
  // Allocates `n` slots for running `seq`, preempting victims while they do not fit.
  // False when `seq` itself was preempted.
  bool AllocateOrPreempt(Sequence& seq, int32_t n, Plan& plan);
  void Preempt(Sequence& victim, Plan& plan);
  void ResumeSwapped(Plan& plan);
  void AdmitWaiting(Plan& plan);
  int32_t ChunkLimit(int32_t remaining, int32_t budget) const;
  SchedulerStep BuildStep(Plan& plan);
  FinishedSequence FinishInternal(Sequence& seq, FinishReason reason);

  SchedulerConfig config_;
  kvcache::KvCacheManager kv_;
  absl::node_hash_map<SeqId, Sequence> seqs_;  // every unfinished sequence
  std::set<QueueKey> waiting_;
  std::set<QueueKey> running_;
  std::set<QueueKey> swapped_;
  int64_t next_arrival_ = 0;
  int64_t next_admission_ = 0;
  int64_t num_preemptions_recompute_ = 0;
  int64_t num_preemptions_swap_ = 0;
};

}  // namespace hearth::scheduler
