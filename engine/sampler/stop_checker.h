// Decides when a sequence is done and how much of its detokenized text may be streamed now.
//
// The caller feeds each new output token with the text it added (incremental detokenization
// happens elsewhere: the sampler does not know the tokenizer). Checks run in vLLM's order:
//   output < min_tokens ──▶ no stop by token or string (length still applies)
//   EOS (unless ignore_eos) / stop token id ──▶ stop; the token's text is dropped unless
//                                              include_stop_str_in_output
//   stop string ──▶ stop; output is cut before the match (or after it, with include)
//   max_tokens / context length ──▶ length
//
// Stop strings may span any number of deltas. When several could match, the one that ends
// first in the text wins (ties -> the longer one, i.e. the earlier start); this makes the result
// independent of how the text is split into deltas. Without include_stop_str_in_output, the
// longest suffix of the pending text that is a proper prefix of some stop string is held back
// and released as soon as it can no longer become a match (or when the sequence finishes):
//
//   stop = {"END"}   deltas: "ab" "cE" "N"  "x"
//   emitted:                 "ab" "c"  ""   "ENx"      (held: "" "E" "EN" "")
//
// Thread-safety: not thread-safe; one per sequence, owned by the engine thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/sampler/finish_reason.h"
#include "engine/sampler/sampling_params.h"

namespace hearth::sampler {

struct StopUpdate {
  std::string text;                  // Text that may be streamed to the client now.
  std::optional<FinishInfo> finish;  // Set on the update that finishes the sequence.
};

class StopChecker {
 public:
  // Validates `params`. `prompt_tokens` + output tokens reaching `max_model_len` (when set)
  // finishes with kContextLength. `eos_token_ids` come from the model.
  static absl::StatusOr<StopChecker> Create(const SamplingParams& params,
                                            absl::Span<const int32_t> eos_token_ids,
                                            int64_t prompt_tokens,
                                            std::optional<int64_t> max_model_len);

  // One new output token and the text it added (possibly empty). After the sequence has
  // finished, returns empty text and the same finish again.
  StopUpdate Append(int32_t token, std::string_view text_delta);

  bool finished() const { return finish_.has_value(); }
  const std::optional<FinishInfo>& finish() const { return finish_; }
  int64_t num_output_tokens() const { return num_output_tokens_; }
  // Bytes received but not yet emitted (a possible start of a stop string).
  size_t held_bytes() const { return held_; }

 private:
  struct Match {
    size_t start;  // Offset in the scanned window.
    size_t end;
    size_t index;  // Into params_.stop.
  };

  StopChecker() = default;
  // The match with the smallest end among those ending after `new_from` in `window`.
  std::optional<Match> FindStop(std::string_view window, size_t new_from) const;
  // Length of the longest suffix of `window` that is a proper prefix of a stop string.
  size_t PartialSuffix(std::string_view window) const;
  // Ends the sequence: emits `text`, records `info`.
  StopUpdate Finish(std::string text, FinishInfo info);

  SamplingParams params_;
  std::vector<int32_t> eos_ids_;  // Empty when ignore_eos.
  int64_t prompt_tokens_ = 0;
  std::optional<int64_t> max_model_len_;
  size_t max_stop_len_ = 0;

  int64_t num_output_tokens_ = 0;
  // The last (max_stop_len_ - 1) bytes of text seen; its last held_ bytes are not emitted yet.
  std::string tail_;
  size_t held_ = 0;
  std::optional<FinishInfo> finish_;
};

}  // namespace hearth::sampler
