// OpenAI-compatible request bodies -> GenerateSpec (one per prompt), for /v1/completions and
// /v1/chat/completions. Parameters: model, prompt (a string, a list of strings, a list of token
// ids, a list of such lists) or messages, max_tokens / max_completion_tokens, temperature,
// top_p, n, stop, seed, presence_penalty, frequency_penalty, logprobs (+ top_logprobs for
// chat), stream, stream_options.include_usage, user (accepted, unused); and vLLM's extensions
// top_k, min_p, repetition_penalty, min_tokens, ignore_eos, stop_token_ids,
// include_stop_str_in_output, skip_special_tokens, priority,
// stream_options.continuous_usage_stats. Parameters Hearth cannot honour (echo, suffix,
// logit_bias, tools, best_of != n, a non-text response_format) are refused with 400 naming
// them rather than ignored.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/http/json_fields.h"
#include "server/request/generate_spec.h"

namespace hearth::server::http::openai {

struct CompletionRequest {
  bool chat = false;
  std::string model;                // as sent ("" = the served model)
  std::vector<GenerateSpec> specs;  // one per prompt (chat: exactly one)
  int32_t n = 1;                    // samples per prompt
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage: a final usage chunk
  bool continuous_usage = false;  // stream_options.continuous_usage_stats: usage in every chunk
  bool logprobs = false;          // return logprobs (chat: logprobs true; completions: set)
  int32_t top_logprobs = 0;
};

// The OpenAI field names for errors (completions and chat differ in the input's name).
const FieldNames& CompletionFieldNames();
const FieldNames& ChatFieldNames();

absl::StatusOr<CompletionRequest> ParseCompletionRequest(const Json& body);
absl::StatusOr<CompletionRequest> ParseChatCompletionRequest(const Json& body);

}  // namespace hearth::server::http::openai
