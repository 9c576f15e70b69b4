// The per-request (per-sequence) side of sampling: resolved seed, output step counter, and the
// token statistics the penalties need. Owned by the sequence; one per parallel sample (n > 1).
//
// Thread-safety: not thread-safe; the engine thread owns it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/constraint/matcher.h"
#include "engine/sampler/finish_reason.h"
#include "engine/sampler/sampling_params.h"

namespace hearth::sampler {

class SamplerState {
 public:
  // Validates `params` (InvalidArgument on a bad field) and resolves the seed: params.seed, or
  // one drawn from DrawGlobalSeed() when unset. `prompt_tokens` feed the repetition penalty;
  // `eos_token_ids` (from the model, not the sampler) are suppressed with the stop token ids
  // until min_tokens, unless ignore_eos. `sample_index` in [0, n) selects the random stream of
  // one of the n parallel samples.
  static absl::StatusOr<SamplerState> Create(const SamplingParams& params,
                                             absl::Span<const int32_t> prompt_tokens,
                                             absl::Span<const int32_t> eos_token_ids,
                                             int32_t sample_index = 0);

  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }
  int32_t sample_index() const { return sample_index_; }
  // Output tokens recorded so far; also the step index of the next random draw.
  int64_t num_output_tokens() const { return num_output_tokens_; }

  // Records one output token (and advances the constraint's matcher with it: a stop id ends
  // the match). Sampler::Sample calls this for the token it returns; call it directly only for
  // output tokens that were not sampled (e.g. forced or replayed ones).
  void AppendOutput(int32_t token);

  // The constraint's matcher; null when params().constraint is unset.
  constraint::Matcher* matcher() { return matcher_ ? &*matcher_ : nullptr; }
  const constraint::Matcher* matcher() const { return matcher_ ? &*matcher_ : nullptr; }
  // `info` (how the output ended), or kConstraintUnmet when the output so far does not satisfy
  // the constraint (max_tokens, the context, or a forced stop came first). Aborts unchanged.
  FinishInfo CheckConstraint(const FinishInfo& info) const;

  // True while EOS / stop token ids must be suppressed (output shorter than min_tokens).
  bool SuppressingStops() const { return num_output_tokens_ < params_.min_tokens; }
  // Stop token ids plus EOS ids (unless ignore_eos), deduplicated.
  absl::Span<const int32_t> stop_ids() const { return stop_ids_; }

  // Distinct tokens of prompt + output. Tracked only when repetition_penalty != 1.
  const absl::flat_hash_set<int32_t>& seen_tokens() const { return seen_tokens_; }
  // Output token -> count. Tracked only when presence or frequency penalty != 0.
  const absl::flat_hash_map<int32_t, int32_t>& output_counts() const { return output_counts_; }

 private:
  SamplerState() = default;

  SamplingParams params_;
  uint64_t seed_ = 0;
  int32_t sample_index_ = 0;
  int64_t num_output_tokens_ = 0;
  bool track_seen_ = false;
  bool track_counts_ = false;
  std::vector<int32_t> stop_ids_;
  absl::flat_hash_set<int32_t> seen_tokens_;
  absl::flat_hash_map<int32_t, int32_t> output_counts_;
  std::optional<constraint::Matcher> matcher_;
};

}  // namespace hearth::sampler
