// Why a sequence finished: the one enum the scheduler, the engine, the samplers' stop checks,
// the metrics and the wire protocols share (OpenAI's finish_reason vocabulary, plus kNone for
// "still running" and kError for a failed step).
#pragma once

#include <string_view>

namespace hearth {

enum class FinishReason {
  kNone,    // not finished
  kStop,    // EOS, a stop token id, or a stop string
  kLength,  // max_tokens, the context length, or the scheduler's length limit
  kAbort,   // the client cancelled, a deadline passed, or the engine dropped the request
  kError,   // the step that ran it failed
};

// "none", "stop", "length", "abort", "error".
constexpr std::string_view FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone:
      return "none";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kAbort:
      return "abort";
    case FinishReason::kError:
      return "error";
  }
  return "error";
}

}  // namespace hearth
