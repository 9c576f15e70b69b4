// Why a sequence finished, in the vocabulary of the OpenAI API ("stop", "length") plus the
// finer cause the engine and metrics want (EOS vs. stop token vs. stop string, ...).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/finish_reason.h"

namespace hearth::sampler {

// The coarse reason reported to API clients: the one FinishReason (common/finish_reason.h).
using ::hearth::FinishReason;
using ::hearth::FinishReasonName;

// The precise cause; each maps to exactly one FinishReason (see ReasonOf).
enum class StopCause {
  kEos,            // The model produced an EOS token (and ignore_eos was false).
  kStopToken,      // One of SamplingParams::stop_token_ids.
  kStopString,     // One of SamplingParams::stop matched the generated text.
  kMaxTokens,      // The output reached SamplingParams::max_tokens.
  kContextLength,  // prompt + output reached the model's context length.
  kAbort,
};

constexpr FinishReason ReasonOf(StopCause cause) {
  switch (cause) {
    case StopCause::kEos:
    case StopCause::kStopToken:
    case StopCause::kStopString:
      return FinishReason::kStop;
    case StopCause::kMaxTokens:
    case StopCause::kContextLength:
      return FinishReason::kLength;
    case StopCause::kAbort:
      return FinishReason::kAbort;
  }
  return FinishReason::kAbort;
}

// Why and on what a sequence finished. `stop_token_id` is set (>= 0) for kEos / kStopToken,
// `stop_string` for kStopString (vLLM reports either as `stop_reason`).
struct FinishInfo {
  StopCause cause = StopCause::kAbort;
  int32_t stop_token_id = -1;
  std::string stop_string;

  FinishReason reason() const { return ReasonOf(cause); }
  bool operator==(const FinishInfo&) const = default;
};

}  // namespace hearth::sampler
