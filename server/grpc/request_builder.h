// Wire <-> engine conversions for Generate: validate a GenerateRequest into an engine::Request
// (every error InvalidArgument or NotFound, naming the field and the reason), and turn an
// engine::RequestOutput into a GenerateResponse.
//
// Thread-safety: pure functions over immutable inputs; ServedModel is read-only once built.
#pragma once

#include <climits>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/request.h"
#include "engine/tokenizer/chat_template.h"
#include "engine/tokenizer/tokenizer.h"
#include "hearth/v1/hearth.pb.h"

namespace hearth::server {

// Limits of the API beyond SamplingParams::Validate().
inline constexpr int32_t kMaxParallelSamples = 16;  // sampling.n in [1, 16]
inline constexpr int32_t kMaxStopStrings = 16;
inline constexpr int32_t kDefaultMaxTokens = 16;

// What the handlers need to know about the one served model. Borrowed pointers must outlive it.
struct ServedModel {
  std::string name;
  const engine::tokenizer::Tokenizer* tokenizer = nullptr;
  // Empty when the model's template is not recognised (chat requests then fail).
  std::optional<engine::tokenizer::ChatTemplate> chat_template;
  std::string chat_template_error;
  int32_t max_model_len = 0;
  // Client priorities below this (more urgent) are raised to it (config min_client_priority).
  int32_t min_priority = INT32_MIN;
  // Parse special-token text inside chat message content as control tokens (config
  // parse_special_in_chat). Off: content is text; only the template's own markers are tokens.
  bool chat_parse_special = false;
};

// OK for "" or the served name; NotFound naming the unknown model otherwise.
absl::Status CheckModelName(const std::string& requested, const ServedModel& model);

// Validates and tokenizes. Errors: NotFound (unknown model), InvalidArgument naming the field:
// no input, empty text / token_ids / chat, a token id outside [0, vocab), n outside [1, 16],
// more than 16 stop strings, stop_token_ids outside the vocabulary, a chat role other than
// system / user / assistant, a chat the template rejects, and whatever
// SamplingParams::Validate rejects (NaN / inf included). The context check (prompt +
// max_tokens) is the engine's, at Submit. The priority is clamped to model.min_priority.
absl::StatusOr<engine::Request> BuildEngineRequest(const v1::GenerateRequest& request,
                                                   const ServedModel& model);

// One engine delta -> one response message. `tokenizer` gives top-logprob token texts.
void ToGenerateResponse(const engine::RequestOutput& out, const std::string& request_id,
                        const engine::tokenizer::Tokenizer& tokenizer,
                        v1::GenerateResponse* response);

}  // namespace hearth::server
