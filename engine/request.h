// What a caller submits to the Engine and what it streams back.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/sampler/finish_reason.h"
#include "engine/sampler/sampler.h"
#include "engine/sampler/sampling_params.h"

namespace hearth::engine {

struct Request {
  std::vector<int32_t> prompt_tokens;  // non-empty
  sampler::SamplingParams params;      // params.n parallel samples share the prompt
  int32_t priority = 0;                // lower runs first; FCFS within a priority
  // When the request arrived, in RequestClockSeconds(); 0: at Submit. A server that waited
  // before submitting (a model loading) sets it, so queue time and TTFT include the wait.
  double arrival_seconds = 0;
};

// The steady clock (seconds) the engine times requests with.
inline double RequestClockSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Per-request accounting, complete on the final output of each sample.
struct Usage {
  int32_t prompt_tokens = 0;
  int32_t cached_prompt_tokens = 0;  // prompt tokens served by the prefix cache
  int32_t completion_tokens = 0;
  double queue_seconds = 0;  // arrival -> first scheduled
  double time_to_first_token_seconds = 0;
  double e2e_seconds = 0;      // arrival -> finish
  double prefill_seconds = 0;  // first scheduled -> first token (0 without a token)
  double decode_seconds = 0;   // first token -> last token
};

// One streamed delta of one sample. The last output of a sample has `finish` set (or a non-OK
// `status`, which is also final).
struct RequestOutput {
  uint64_t request_id = 0;
  int32_t sample_index = 0;                     // in [0, params.n)
  std::vector<int32_t> token_ids;               // new tokens since the previous output
  std::string text;                             // new text (valid UTF-8; stop strings cut)
  std::vector<sampler::SampledToken> logprobs;  // per new token, when params.logprobs is set
  std::optional<sampler::FinishInfo> finish;    // set on the sample's final output
  absl::Status status;                          // non-OK: the sample failed (also final)
  Usage usage;                                  // filled on the final output

  bool final() const { return finish.has_value() || !status.ok(); }
};

// Called on the engine thread for every output. Must be quick and must not call back into the
// Engine synchronously except Abort (which only enqueues).
using OutputCallback = std::function<void(RequestOutput)>;

}  // namespace hearth::engine
