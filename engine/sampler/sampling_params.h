// Per-request sampling parameters with vLLM / OpenAI semantics. A plain struct: the server fills
// it from the request, calls Validate(), and the engine copies it into the sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/constraint/compiled_constraint.h"

namespace hearth::sampler {

// Most top alternatives a request may ask for (OpenAI's top_logprobs limit).
inline constexpr int kMaxLogprobs = 20;

struct SamplingParams {
  // Number of parallel samples for one prompt (the scheduler forks sequences). Sample i of a
  // seeded request uses the random stream (seed, i). >= 1.
  int32_t n = 1;

  // Softmax temperature, >= 0. 0 means greedy: argmax (ties -> lowest id), no random draw,
  // and top_k / top_p / min_p have no effect.
  float temperature = 1.0f;
  // Keep the k most likely tokens. 0 or -1 = off. Values above the vocabulary are off too.
  int32_t top_k = 0;
  // Nucleus: keep the smallest prefix (by probability, ties -> lowest id) whose mass >= top_p,
  // measured after top_k. In (0, 1]; 1 = off.
  float top_p = 1.0f;
  // Keep tokens with p >= min_p * p_max. In [0, 1]; 0 = off.
  float min_p = 0.0f;

  // HF / vLLM repetition penalty over every token seen in prompt + output: a positive logit is
  // divided by it, a negative one multiplied. > 0; 1 = off.
  float repetition_penalty = 1.0f;
  // OpenAI penalties over output tokens only: logit -= presence * [count > 0] + frequency * count.
  // Each in [-2, 2]; 0 = off.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;

  // Seed of the request's private random stream; the same seed gives bitwise the same tokens
  // and logprobs whatever else shares the batch. Unset: drawn from a global source at creation.
  std::optional<uint64_t> seed;

  // Most output tokens; unset = until the context length. >= 1 when set.
  std::optional<int32_t> max_tokens = 16;
  // EOS and stop token ids are suppressed (and stop strings ignored) until the output has this
  // many tokens. >= 0 and <= max_tokens.
  int32_t min_tokens = 0;
  // Keep generating past EOS (benchmarks). Stop token ids and stop strings still apply.
  bool ignore_eos = false;

  // Stop strings, matched on the detokenized output (see StopChecker). Non-empty strings.
  std::vector<std::string> stop;
  // Token ids that finish the sequence with reason "stop", like EOS. Each >= 0.
  std::vector<int32_t> stop_token_ids;
  // Emit the matched stop string (or the stop token's text) as part of the output.
  bool include_stop_str_in_output = false;

  // Unset: no logprobs. Set to k in [0, kMaxLogprobs]: the chosen token's logprob plus the k
  // most likely alternatives. Logprobs are of the raw model distribution (log_softmax of the
  // logits before penalties, temperature and filters), as vLLM returns by default.
  std::optional<int32_t> logprobs;

  // Structured output: a compiled JSON schema / regex / grammar / choice (see
  // engine/constraint/) the output must match. Each sample gets its own matcher; the sampler
  // masks every token the constraint does not allow next, and EOS / stop token ids are allowed
  // only where the output so far is a complete match. Not combinable with ignore_eos,
  // min_tokens > 0 or stop strings (the constraint decides where the output ends). Shared and
  // immutable (its caches are thread-safe); null = unconstrained.
  std::shared_ptr<const constraint::CompiledConstraint> constraint;

  // OK, or InvalidArgument naming the first offending field and the rule it breaks.
  absl::Status Validate() const;

  bool greedy() const { return temperature == 0.0f; }
};

}  // namespace hearth::sampler
