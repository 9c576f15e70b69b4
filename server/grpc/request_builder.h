// Wire <-> engine conversions for Generate: validate a GenerateRequest into an engine::Request
// (every error InvalidArgument or NotFound, naming the field and the reason), and turn an
// engine::RequestOutput into a GenerateResponse.
//
// Thread-safety: pure functions over immutable inputs; ServedModel is read-only once built.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/constraint/constraint_compiler.h"
#include "engine/constraint/constraint_spec.h"
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
  // Compiles (and caches) structured-output constraints; null: constraints are rejected.
  constraint::ConstraintCompiler* constraint_compiler = nullptr;
};

// OK for "" or the served name; NotFound naming the unknown model otherwise.
absl::Status CheckModelName(const std::string& requested, const ServedModel& model);

// Validates and tokenizes. Errors: NotFound (unknown model), InvalidArgument naming the field:
// no input, empty text / token_ids / chat, a token id outside [0, vocab), n outside [1, 16],
// more than 16 stop strings, stop_token_ids outside the vocabulary, a chat the template
// rejects, and whatever SamplingParams::Validate rejects (NaN / inf included). The context
// check (prompt + max_tokens) is the engine's, at Submit.
absl::StatusOr<engine::Request> BuildEngineRequest(const v1::GenerateRequest& request,
                                                   const ServedModel& model);

// The request's `constraint` oneof as a protocol-neutral spec; nullopt when unset.
// InvalidArgument for json_object = false or an empty choice list.
absl::StatusOr<std::optional<constraint::ConstraintSpec>> ConstraintSpecFromProto(
    const v1::GenerateRequest& request);

// Compiles `spec` with model.constraint_compiler into params->constraint and validates the
// combination. Errors (InvalidArgument, before anything is queued): the compile error prefixed
// with "constraint." (e.g. "constraint.json_schema: at /properties/side: ...",
// "constraint.regex: offset 3: ..."), or a sampling field that cannot go with a constraint.
// Shared by the gRPC and HTTP request paths.
absl::Status ApplyConstraint(const constraint::ConstraintSpec& spec, const ServedModel& model,
                             sampler::SamplingParams* params);

// One engine delta -> one response message. `tokenizer` gives top-logprob token texts.
void ToGenerateResponse(const engine::RequestOutput& out, const std::string& request_id,
                        const engine::tokenizer::Tokenizer& tokenizer,
                        v1::GenerateResponse* response);

}  // namespace hearth::server
