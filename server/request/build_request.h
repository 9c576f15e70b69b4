// The one validation path of every protocol: a GenerateSpec (generate_spec.h) becomes an
// engine::Request, or an InvalidArgument error naming the field in the protocol's own words
// (the FieldNames table the front end passes) and saying why.
//
// Thread-safety: pure functions over immutable inputs.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "engine/request.h"
#include "server/request/generate_spec.h"
#include "server/request/served_model.h"

namespace hearth::server {

// Limits of the API beyond SamplingParams::Validate().
inline constexpr int32_t kMaxParallelSamples = 16;  // n in [1, 16]
inline constexpr int32_t kMaxStopStrings = 16;
inline constexpr int32_t kDefaultMaxTokens = 16;

// Validates and tokenizes. InvalidArgument naming the field: no input, empty text / token ids
// / chat, a token id outside [0, vocab), n outside [1, 16], more than 16 stop strings, stop
// token ids outside the vocabulary, a chat role other than system / user / assistant, a chat
// the template rejects, and whatever SamplingParams::Validate rejects (NaN / inf included). The
// model name is not checked here (ModelResolver does that); the context check (prompt +
// max_tokens) is the engine's, at Submit. The priority is clamped to model.min_priority.
// REQUIRES: model.tokenizer set.
absl::StatusOr<engine::Request> BuildEngineRequest(const GenerateSpec& spec,
                                                   const ServedModel& model,
                                                   const FieldNames& names);

// Compiles `spec` with model.constraint_compiler into params->constraint and validates the
// combination. Errors (InvalidArgument, before anything is queued): the compile error prefixed
// with `field` and "." (gRPC: "constraint.json_schema: at /properties/side: ...",
// "constraint.regex: offset 3: ..."; OpenAI: "response_format.json_schema: ..."), or a sampling
// field that cannot go with a constraint.
// Shared by the gRPC and HTTP request paths.
absl::Status ApplyConstraint(const constraint::ConstraintSpec& spec, const ServedModel& model,
                             sampler::SamplingParams* params,
                             const std::string& field = "constraint");

// The prompt alone (tokenized text, checked ids or a templated chat); same errors as above.

// `request` with every field it leaves unset taken from `defaults` (the model's); its stop lists
// replace the default ones when not empty.
SamplingSpec WithDefaults(const SamplingSpec& request, const SamplingSpec& defaults);

// Chat message content is tokenized as text (special-token spellings included) unless
// model.chat_parse_special; the template's own markers are always control tokens.
absl::StatusOr<std::vector<int32_t>> BuildPrompt(const PromptSpec& prompt, const ServedModel& model,
                                                 const FieldNames& names);

// Rewrites an engine InvalidArgument that names an internal sampling field ("sampling params:
// top_p must be ...") in the protocol's words ("options.top_p: must be ..."); other statuses
// pass unchanged.
absl::Status RenameFieldError(const absl::Status& status, const FieldNames& names);

}  // namespace hearth::server
