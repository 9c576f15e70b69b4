#include "scheduler/scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/check.h"
#include "common/status_macros.h"
#include "scheduler/preemption_policy.h"

namespace hearth::scheduler {

using kvcache::BlockPair;

// One step under construction: planned (sequence, slice) entries plus the swap pairs and
// preemptions decided so far.
struct Scheduler::Plan {
  struct Entry {
    SeqId id;
    int32_t start;  // first position computed
    int32_t n;      // tokens computed
    std::vector<BlockPair> copies;
  };
  std::vector<Entry> entries;
  int32_t budget = 0;
  bool preempted_any = false;
  SchedulerStep step;  // swap_out, swap_in, preempted

  bool Has(SeqId id) const {
    return std::any_of(entries.begin(), entries.end(), [&](const Entry& e) { return e.id == id; });
  }
  // Drops `id`'s entry (and its copies), giving its tokens back to the budget.
  bool Remove(SeqId id) {
    auto it =
        std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.id == id; });
    if (it == entries.end()) return false;
    budget += it->n;
    entries.erase(it);
    return true;
  }
};

absl::StatusOr<std::unique_ptr<Scheduler>> Scheduler::Create(const SchedulerConfig& config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::unique_ptr<Scheduler>(new Scheduler(config));
}

Scheduler::Scheduler(const SchedulerConfig& config)
    : config_(config),
      kv_(kvcache::KvCacheConfig{config.num_device_blocks, config.num_host_blocks,
                                 config.block_size, config.enable_prefix_caching}) {}

absl::Status Scheduler::Add(Sequence seq) {
  const int64_t prompt = seq.num_tokens();
  if (seqs_.contains(seq.id)) {
    return absl::AlreadyExistsError(absl::StrCat("sequence id ", seq.id, " is already in use"));
  }
  if (prompt == 0) return absl::InvalidArgumentError("the prompt is empty");
  if (seq.max_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_tokens = ", seq.max_tokens, " must be at least 1"));
  }
  const int64_t total = prompt + seq.max_tokens;
  if (total > config_.max_model_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt (", prompt, " tokens) + max_tokens (", seq.max_tokens, ") = ", total,
                     " exceeds the context length max_model_len = ", config_.max_model_len));
  }
  // The last sampled token never needs a KV slot.
  const int64_t blocks = (total - 1 + config_.block_size - 1) / config_.block_size;
  if (blocks > config_.num_device_blocks) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the request needs ", blocks, " KV blocks (", total - 1, " tokens of ", config_.block_size,
        ") but the whole cache has ", config_.num_device_blocks, "; it could never fit"));
  }
  if (!config_.enable_chunked_prefill && prompt > config_.max_num_batched_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt (", prompt, " tokens) exceeds max_num_batched_tokens = ",
                     config_.max_num_batched_tokens, " and chunked prefill is disabled"));
  }
  if (static_cast<int32_t>(waiting_.size()) >= config_.max_waiting_requests) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the waiting queue is full (", waiting_.size(), " requests); retry later"));
  }
  seq.num_prompt_tokens = static_cast<int32_t>(prompt);
  seq.num_computed_tokens = 0;
  seq.status = SequenceStatus::kWaiting;
  seq.finish_reason = FinishReason::kNone;
  seq.arrival_order = next_arrival_++;
  seq.admission_order = 0;
  seq.num_preemptions = 0;
  waiting_.insert(WaitingKey(seq));
  const SeqId id = seq.id;
  seqs_.emplace(id, std::move(seq));
  return absl::OkStatus();
}

const Sequence* Scheduler::Find(SeqId id) const {
  auto it = seqs_.find(id);
  return it == seqs_.end() ? nullptr : &it->second;
}

bool Scheduler::Abort(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return false;
  FinishInternal(it->second, FinishReason::kAbort);
  return true;
}

absl::StatusOr<FinishedSequence> Scheduler::Finish(SeqId id, FinishReason reason) {
  if (reason == FinishReason::kNone) {
    return absl::InvalidArgumentError("Finish needs a reason other than kNone");
  }
  auto it = seqs_.find(id);
  if (it == seqs_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence ", id, " is unknown or finished"));
  }
  return FinishInternal(it->second, reason);
}

FinishedSequence Scheduler::FinishInternal(Sequence& seq, FinishReason reason) {
  switch (seq.status) {
    case SequenceStatus::kRunning:
      running_.erase(RunningKey(seq));
      break;
    case SequenceStatus::kWaiting:
      waiting_.erase(WaitingKey(seq));
      break;
    case SequenceStatus::kSwapped:
      swapped_.erase(WaitingKey(seq));
      break;
    case SequenceStatus::kFinished:
      break;
  }
  kv_.Free(seq.id);  // false for a waiting sequence: it holds nothing
  FinishedSequence out{
      seq.id, reason,
      std::vector<int32_t>(seq.output_token_ids().begin(), seq.output_token_ids().end())};
  seqs_.erase(seq.id);
  return out;
}

absl::Status Scheduler::Fork(SeqId parent_id, SeqId child_id, int32_t last_token) {
  auto it = seqs_.find(parent_id);
  if (it == seqs_.end()) {
    return absl::NotFoundError(absl::StrCat("sequence ", parent_id, " is unknown or finished"));
  }
  if (seqs_.contains(child_id)) {
    return absl::AlreadyExistsError(absl::StrCat("sequence id ", child_id, " is already in use"));
  }
  const Sequence& parent = it->second;
  if (parent.status != SequenceStatus::kRunning || parent.num_output_tokens() == 0 ||
      parent.num_computed_tokens != parent.num_tokens() - 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sequence ", parent_id, " must be running and have sampled its first token to fork"));
  }
  RETURN_IF_ERROR(kv_.Fork(parent_id, child_id));
  Sequence child = parent;  // copy before emplace
  child.id = child_id;
  child.token_ids.back() = last_token;
  child.admission_order = next_admission_++;
  child.num_preemptions = 0;
  running_.insert(RunningKey(child));
  seqs_.emplace(child_id, std::move(child));
  return absl::OkStatus();
}

int32_t Scheduler::ChunkLimit(int32_t remaining, int32_t budget) const {
  int32_t n = std::min(remaining, budget);
  if (config_.long_prefill_token_threshold > 0) {
    n = std::min(n, config_.long_prefill_token_threshold);
  }
  return n;
}

SchedulerStep Scheduler::Schedule() {
  Plan plan;
  plan.budget = config_.max_num_batched_tokens;
  for (const QueueKey& key : running_) {
    const SeqId id = std::get<2>(key);
    HEARTH_CHECK(kv_.NumTokens(id) == seqs_.at(id).num_computed_tokens);  // Update() was called
  }
  ScheduleRunning(/*decodes=*/true, plan);
  ScheduleRunning(/*decodes=*/false, plan);
  if (!plan.preempted_any) ResumeSwapped(plan);
  if (!plan.preempted_any && swapped_.empty()) AdmitWaiting(plan);
  return BuildStep(plan);
}

void Scheduler::ScheduleRunning(bool decodes, Plan& plan) {
  std::vector<SeqId> order;
  order.reserve(running_.size());
  for (const QueueKey& key : running_) order.push_back(std::get<2>(key));
  for (SeqId id : order) {
    if (plan.budget <= 0) return;
    auto it = seqs_.find(id);
    if (it == seqs_.end()) continue;
    Sequence& s = it->second;
    if (s.status != SequenceStatus::kRunning || plan.Has(id)) continue;  // preempted meanwhile
    const int32_t remaining = s.num_tokens() - s.num_computed_tokens;
    HEARTH_CHECK(remaining >= 1);
    if ((remaining == 1) != decodes) continue;
    AllocateOrPreempt(s, decodes ? 1 : ChunkLimit(remaining, plan.budget), plan);
  }
}

bool Scheduler::AllocateOrPreempt(Sequence& seq, int32_t n, Plan& plan) {
  while (true) {
    std::optional<kvcache::Allocation> a = kv_.Allocate(seq.id, n);
    if (a) {
      plan.entries.push_back({seq.id, seq.num_computed_tokens, n, std::move(a->copies)});
      plan.budget -= n;
      return true;
    }
    // Lowest priority (largest value), then most recently admitted: the set's last key.
    HEARTH_CHECK(!running_.empty());
    Sequence& victim = seqs_.at(std::get<2>(*running_.rbegin()));
    const bool self = victim.id == seq.id;
    Preempt(victim, plan);
    if (self) return false;
  }
}

void Scheduler::Preempt(Sequence& victim, Plan& plan) {
  const VictimInfo info{victim.num_computed_tokens,
                        static_cast<int32_t>(kv_.BlockTable(victim.id).size()),
                        kv_.NumFreeHostBlocks(), plan.Remove(victim.id)};
  running_.erase(RunningKey(victim));
  if (ChoosePreemption(config_, info) == PreemptionKind::kSwap) {
    std::optional<std::vector<BlockPair>> pairs = kv_.SwapOut(victim.id);
    HEARTH_CHECK(pairs.has_value());
    plan.step.swap_out.insert(plan.step.swap_out.end(), pairs->begin(), pairs->end());
    victim.status = SequenceStatus::kSwapped;
    swapped_.insert(WaitingKey(victim));
    ++num_preemptions_swap_;
  } else {
    kv_.Free(victim.id);
    victim.num_computed_tokens = 0;  // re-prefills prompt + outputs
    victim.status = SequenceStatus::kWaiting;
    waiting_.insert(WaitingKey(victim));  // keeps its arrival order: first in its priority
    ++num_preemptions_recompute_;
  }
  ++victim.num_preemptions;
  plan.step.preempted.push_back(victim.id);
  plan.preempted_any = true;
}

void Scheduler::ResumeSwapped(Plan& plan) {
  std::vector<SeqId> order;
  for (const QueueKey& key : swapped_) order.push_back(std::get<2>(key));
  for (SeqId id : order) {
    if (static_cast<int32_t>(running_.size()) >= config_.max_num_seqs || plan.budget <= 0) {
      return;
    }
    Sequence& s = seqs_.at(id);
    const int32_t remaining = s.num_tokens() - s.num_computed_tokens;
    const int32_t n = remaining == 1 ? 1 : ChunkLimit(remaining, plan.budget);
    if (!kv_.CanSwapIn(id, n)) return;  // in order: later ones do not jump ahead
    std::optional<std::vector<BlockPair>> pairs = kv_.SwapIn(id);
    HEARTH_CHECK(pairs.has_value());
    plan.step.swap_in.insert(plan.step.swap_in.end(), pairs->begin(), pairs->end());
    std::optional<kvcache::Allocation> a = kv_.Allocate(id, n);
    HEARTH_CHECK(a.has_value() && a->copies.empty());
    swapped_.erase(WaitingKey(s));
    s.status = SequenceStatus::kRunning;
    s.admission_order = next_admission_++;
    running_.insert(RunningKey(s));
    plan.entries.push_back({id, s.num_computed_tokens, n, {}});
    plan.budget -= n;
  }
}

void Scheduler::AdmitWaiting(Plan& plan) {
  while (!waiting_.empty() && plan.budget > 0 &&
         static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
    Sequence& s = seqs_.at(std::get<2>(*waiting_.begin()));
    absl::Span<const int32_t> tokens = s.token_ids;
    int32_t max_new = ChunkLimit(s.num_tokens(), plan.budget);
    if (!config_.enable_chunked_prefill) {
      // The whole remainder in one step, unless it could never fit one (a preempted
      // sequence whose prompt + outputs outgrew the budget): then chunk it anyway.
      const int32_t need = s.num_tokens() - kv_.CachedPrefixLength(tokens);
      if (need <= config_.max_num_batched_tokens) {
        if (need > plan.budget) return;
        max_new = need;
      }
    }
    std::optional<kvcache::Admission> adm = kv_.Admit(s.id, tokens, max_new);
    if (!adm) return;  // does not fit now; keep FCFS order: nobody jumps ahead
    waiting_.erase(waiting_.begin());
    s.num_computed_tokens = adm->num_cached_tokens;
    s.status = SequenceStatus::kRunning;
    s.admission_order = next_admission_++;
    running_.insert(RunningKey(s));
    plan.entries.push_back({s.id, adm->num_cached_tokens, adm->num_new_tokens, {}});
    plan.budget -= adm->num_new_tokens;
  }
}

SchedulerStep Scheduler::BuildStep(Plan& plan) {
  SchedulerStep step = std::move(plan.step);
  step.sequences.reserve(plan.entries.size());
  for (Plan::Entry& e : plan.entries) {
    const Sequence& s = seqs_.at(e.id);
    ScheduledSequence out;
    out.id = e.id;
    out.token_ids.assign(s.token_ids.begin() + e.start, s.token_ids.begin() + e.start + e.n);
    out.start_position = e.start;
    out.context_len = e.start + e.n;
    out.block_table = kv_.BlockTable(e.id);
    HEARTH_CHECK(static_cast<int32_t>(out.block_table.size()) == kv_.BlocksFor(out.context_len));
    out.sample = out.context_len == s.num_tokens();
    step.copies.insert(step.copies.end(), e.copies.begin(), e.copies.end());
    step.num_batched_tokens += e.n;
    step.sequences.push_back(std::move(out));
  }
  return step;
}

absl::StatusOr<std::vector<FinishedSequence>> Scheduler::Update(const SchedulerStep& step,
                                                                absl::Span<const int32_t> sampled) {
  if (static_cast<int32_t>(sampled.size()) != step.num_sampled()) {
    return absl::InvalidArgumentError(absl::StrCat("Update got ", sampled.size(),
                                                   " sampled tokens for a step that samples ",
                                                   step.num_sampled()));
  }
  std::vector<FinishedSequence> finished;
  size_t next = 0;
  for (const ScheduledSequence& e : step.sequences) {
    const int32_t token = e.sample ? sampled[next++] : -1;
    auto it = seqs_.find(e.id);
    if (it == seqs_.end()) continue;  // aborted or finished since Schedule()
    Sequence& s = it->second;
    if (s.status != SequenceStatus::kRunning || s.num_computed_tokens != e.start_position) {
      continue;  // a new sequence reusing the id
    }
    s.num_computed_tokens += e.num_tokens();
    kv_.CacheFullBlocks(s.id, absl::MakeConstSpan(s.token_ids).first(s.num_computed_tokens));
    if (!e.sample) continue;
    s.token_ids.push_back(token);
    FinishReason reason = FinishReason::kNone;
    if (std::find(s.stop_token_ids.begin(), s.stop_token_ids.end(), token) !=
        s.stop_token_ids.end()) {
      reason = FinishReason::kStop;
    } else if (s.num_output_tokens() >= s.max_tokens || s.num_tokens() >= config_.max_model_len) {
      reason = FinishReason::kLength;
    }
    if (reason != FinishReason::kNone) finished.push_back(FinishInternal(s, reason));
  }
  return finished;
}

SchedulerStats Scheduler::Stats() const {
  SchedulerStats st;
  st.num_running = static_cast<int32_t>(running_.size());
  st.num_waiting = static_cast<int32_t>(waiting_.size());
  st.num_swapped = static_cast<int32_t>(swapped_.size());
  st.num_preemptions_recompute = num_preemptions_recompute_;
  st.num_preemptions_swap = num_preemptions_swap_;
  const kvcache::KvCacheUsage u = kv_.Usage();
  st.prefix_cache_query_tokens = u.prefix_query_tokens;
  st.prefix_cache_hit_tokens = u.prefix_hit_tokens;
  st.kv_usage = u.UsageFraction();
  st.kv_slot_waste = u.SlotWaste();
  st.num_free_device_blocks = kv_.NumAvailableBlocks();
  return st;
}

}  // namespace hearth::scheduler
