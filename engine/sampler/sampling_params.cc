#include "engine/sampler/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace hearth::sampler {
namespace {

absl::Status Bad(const char* field, const std::string& rule, double value) {
  return absl::InvalidArgumentError(
      absl::StrCat("sampling params: ", field, " ", rule, ", got ", value));
}

}  // namespace

absl::Status SamplingParams::Validate() const {
  if (n < 1) return Bad("n", "must be >= 1", n);
  if (!(std::isfinite(temperature) && temperature >= 0.0f)) {
    return Bad("temperature", "must be finite and >= 0 (0 = greedy)", temperature);
  }
  if (top_k < -1) return Bad("top_k", "must be >= 1, or 0 / -1 for off", top_k);
  if (!(top_p > 0.0f && top_p <= 1.0f)) return Bad("top_p", "must be in (0, 1]", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return Bad("min_p", "must be in [0, 1]", min_p);
  if (!(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f)) {
    return Bad("repetition_penalty", "must be finite and > 0 (1 = off)", repetition_penalty);
  }
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
    return Bad("presence_penalty", "must be in [-2, 2]", presence_penalty);
  }
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    return Bad("frequency_penalty", "must be in [-2, 2]", frequency_penalty);
  }
  if (max_tokens.has_value() && *max_tokens < 1) {
    return Bad("max_tokens", "must be >= 1 when set", *max_tokens);
  }
  if (min_tokens < 0) return Bad("min_tokens", "must be >= 0", min_tokens);
  if (max_tokens.has_value() && min_tokens > *max_tokens) {
    return Bad("min_tokens", absl::StrCat("must be <= max_tokens (", *max_tokens, ")"), min_tokens);
  }
  for (size_t i = 0; i < stop.size(); ++i) {
    if (stop[i].empty()) return Bad("stop", "strings must be non-empty; index", i);
  }
  for (int32_t id : stop_token_ids) {
    if (id < 0) return Bad("stop_token_ids", "must be >= 0", id);
  }
  if (logprobs.has_value() && (*logprobs < 0 || *logprobs > kMaxLogprobs)) {
    return Bad("logprobs", absl::StrCat("must be in [0, ", kMaxLogprobs, "]"), *logprobs);
  }
  if (constraint != nullptr) {
    // The constraint decides where the output ends: these would end it elsewhere.
    const char* const kWhy =
        "cannot be combined with a constraint (the constraint decides where "
        "the output ends)";
    if (ignore_eos)
      return absl::InvalidArgumentError(absl::StrCat("sampling params: ignore_eos ", kWhy));
    if (min_tokens > 0) return Bad("min_tokens", kWhy, min_tokens);
    if (!stop.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("sampling params: stop strings ", kWhy));
    }
  }
  return absl::OkStatus();
}

}  // namespace hearth::sampler
